"""kimi-student: distilled, governed coding-agent models."""

__version__ = "0.1.0"
