"""The JSON Schemas in `arbiter/schemas/`, compiled once, applied to every input and output.

`validate(name, instance)` returns diagnostics (empty = valid) with JSONPath-style field paths
(`$.acceptance[0].id`) and rule ids `<name>.schema.<keyword>`, e.g. `working_spec.schema.required`.

`jsonschema` (Draft 2020-12) is the authority. Each schema is also compiled to Python code by
`fastjsonschema`, which checks a valid document 20-50x faster; only a document it rejects goes through
`jsonschema`, whose answer (every error, or none) is the result. The compiled check must therefore never
accept what `jsonschema` rejects: tests/property/test_schema_fast_path.py holds the two to that.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from arbiter.result import Diagnostic

SCHEMA_NAMES = (
    "working_spec", "caws_verdict", "waiver", "evidence_manifest", "caws_clauses",
    "gate_results", "policy", "claimify_request", "claimify_response", "provenance_entry",
)

_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("date-time needs a timezone")
    return True


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The committed schema document `arbiter/schemas/<name>.schema.json`."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}")
    text = resources.files("arbiter.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_formats)


def _fast_datetime(value: object) -> bool:
    try:
        return _is_datetime(value)
    except ValueError:
        return False


@cache
def _fast_check(name: str) -> Callable[[Any], Any]:
    """The schema compiled to Python (raises `JsonSchemaException` on the first error); defaults are
    never written into the instance."""
    return fastjsonschema.compile(load_schema(name), formats={"date-time": _fast_datetime}, use_default=False)


def format_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _to_diagnostic(name: str, error: ValidationError) -> Diagnostic:
    path = list(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:  # point at the unknown key itself, the smallest fix is to delete it
            path.append(extra[0])
            message = f"unknown key {extra[0]!r} is not allowed"
    elif error.validator == "required":
        missing = message.split("'")[1] if "'" in message else ""
        if missing:
            path.append(missing)
            message = f"required field {missing!r} is missing"
    return Diagnostic(f"{name}.schema.{error.validator}", format_path(path), message)


def validate(name: str, instance: Any) -> tuple[Diagnostic, ...]:
    """Every schema error, ordered by field path so the output is stable."""
    check = _fast_check(name)
    try:
        check(instance)
        return ()
    except fastjsonschema.JsonSchemaException:
        pass  # jsonschema decides, and names every error
    errors = (_to_diagnostic(name, e) for e in _validator(name).iter_errors(instance))
    return tuple(sorted(errors, key=lambda d: (d.path, d.rule, d.message)))
