"""The arbiter's only file I/O: small readers the CLI and the service call at their edges.

Each reader returns the same `Ok`/`Err` data as the pure parsers, with the file name in the
diagnostic path so a user sees which file and which field failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arbiter.codec import parse_structured
from arbiter.policy import Policy, parse_policy
from arbiter.result import Diagnostic, Err, Ok, Result, err

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "configs" / "caws" / "policy.yaml"


def read_text(path: str | Path, rule_prefix: str = "file") -> Result[str]:
    """UTF-8 text of a file; a missing or undecodable file is an `Err`, not an exception."""
    try:
        return Ok(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return err(f"{rule_prefix}.missing", str(path), "file not found")
    except (OSError, UnicodeDecodeError) as exc:
        return err(f"{rule_prefix}.unreadable", str(path), f"cannot read file: {exc}")


def read_structured(path: str | Path, rule_prefix: str) -> Result[Any]:
    """YAML or JSON file -> data; diagnostics are prefixed with the file name."""
    text = read_text(path, rule_prefix)
    if isinstance(text, Err):
        return text
    return _in_file(path, parse_structured(text.value, rule_prefix))


def read_policy(path: str | Path | None = None) -> Result[Policy]:
    """Load and validate a policy file (default: `configs/caws/policy.yaml` of this checkout)."""
    path = Path(path) if path is not None else DEFAULT_POLICY
    data = read_structured(path, "policy")
    if isinstance(data, Err):
        return data
    return _in_file(path, parse_policy(data.value))


def _in_file(path: str | Path, result: Result[Any]) -> Result[Any]:
    if isinstance(result, Ok):
        return result
    return Err(tuple(Diagnostic(d.rule, f"{path}: {d.path}", d.message) for d in result.errors))
