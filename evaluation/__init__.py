"""kimi-student: evaluation."""
