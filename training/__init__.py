"""kimi-student: training."""
