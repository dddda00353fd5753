"""kimi-student: arbiter."""
