"""kimi-student: modeling."""
