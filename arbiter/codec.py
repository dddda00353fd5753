"""Text <-> data: YAML/JSON parsing with positions, canonical JSON, SHA-256, ISO-8601 times."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from arbiter.result import Ok, Result, err


def parse_structured(text: str, rule_prefix: str) -> Result[Any]:
    """Parse JSON or YAML text (JSON is tried first for exact error positions).

    YAML timestamps come back as ISO strings, so a waiver written in YAML validates the same way
    as one written in JSON. Errors carry `line L, column C`.
    """
    if not isinstance(text, str):
        return err(f"{rule_prefix}.parse", "$", f"expected text, got {type(text).__name__}")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return Ok(json.loads(text))
        except json.JSONDecodeError as exc:
            return err(f"{rule_prefix}.parse", f"line {exc.lineno}, column {exc.colno}",
                       f"malformed JSON: {exc.msg}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "$"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return err(f"{rule_prefix}.parse", where, f"malformed YAML: {problem}")
    return Ok(normalize(data))


def normalize(value: Any) -> Any:
    """Make YAML output JSON-shaped: times to ISO strings, mapping keys to strings."""
    if isinstance(value, str | int | float) or value is None:  # most values: nothing to do
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the byte form every hash in the arbiter covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value` (or of the text itself when given a str)."""
    data = value if isinstance(value, str) else canonical_json(value)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def short_id(value: Any, length: int = 16) -> str:
    """A deterministic `[A-Z2-7]{length}` id: base32 of the SHA-256 of `value`."""
    digest = hashlib.sha256(canonical_json(value).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:length]


def parse_time(value: str | dt.datetime, path: str = "$") -> Result[dt.datetime]:
    """An aware datetime from ISO-8601 (`Z` accepted). Naive times are rejected: no guessing zones."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return err("time.format", path, f"not an ISO-8601 date-time: {value!r}")
    if parsed.tzinfo is None:
        return err("time.timezone", path, f"date-time needs a timezone (e.g. Z): {value!r}")
    return Ok(parsed)


def format_time(value: dt.datetime) -> str:
    """UTC, seconds precision kept as given, `Z` suffix."""
    text = value.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")
