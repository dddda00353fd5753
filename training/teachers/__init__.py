"""Teachers for distillation: an OpenAI-compatible HTTP endpoint or a local checkpoint.

`open_teacher("http://127.0.0.1:8000")`, `open_teacher("https://api.example.com/v1#model-name")` or
`open_teacher("local:artifacts/teacher")`.
"""

from __future__ import annotations

from typing import Any

from training.teachers.base import (
    BudgetExhausted,
    MalformedResponse,
    TeacherError,
    TeacherFatal,
    TeacherTurn,
    TeacherUnavailable,
    TokenLogprob,
)
from training.teachers.http import Budget, HTTPTeacher
from training.teachers.local import LocalTeacher

Teacher = HTTPTeacher | LocalTeacher


def open_teacher(spec: str, *, dtype: str = "float32", **http_options: Any) -> Teacher:
    """`local:DIR` (loaded in `dtype`) or an http(s) URL; `http_options` go to `HTTPTeacher` (model,
    api_key, rpm, ...)."""
    if spec.startswith("local:"):
        return LocalTeacher(spec[len("local:"):], dtype=dtype)
    if spec.startswith(("http://", "https://")):
        return HTTPTeacher(spec, **http_options)
    raise ValueError(f"unknown teacher {spec!r}: use local:DIR or an http(s):// URL")


__all__ = [
    "Budget", "BudgetExhausted", "HTTPTeacher", "LocalTeacher", "MalformedResponse", "Teacher", "TeacherError",
    "TeacherFatal", "TeacherTurn", "TeacherUnavailable", "TokenLogprob", "open_teacher",
]
