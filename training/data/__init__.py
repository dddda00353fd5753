"""kimi-student: training/data."""
