"""kimi-student: service."""
