"""Examination of a diff against the working spec: `budget_limit`, `scope_boundary`, `naming`.

Each check returns a `Finding` (the gate and a message citing actual and limit values) or None.
Whether a finding is waivable, and whether a waiver covers it, is decided in `arbiter.verdict`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from arbiter.diffs import DiffStats

# Shadow copies: stem ends in -copy/_copy/-final/_final/-v2/_v2, or starts with new-/enhanced-/copy-of-.
_SHADOW_SUFFIX = re.compile(r"[-_](copy|final|v2)$")
_SHADOW_PREFIX = ("new-", "enhanced-", "copy-of-")
_LISTED = 5  # paths named in a message before "and N more"


@dataclass(frozen=True)
class Finding:
    gate: str
    message: str


def check_budget(stats: DiffStats, max_files: int, max_loc: int, label: str = "") -> Finding | None:
    """Over budget when files > max_files or LOC > max_loc; exactly at the limit is within (≤)."""
    parts = []
    if stats.file_count > max_files:
        parts.append(f"{stats.file_count} files > max_files {max_files}")
    if stats.loc > max_loc:
        parts.append(f"{stats.loc} LOC > max_loc {max_loc}")
    if not parts:
        return None
    return Finding("budget_limit", "change exceeds the budget" + label + ": " + "; ".join(parts))


def normalize_entry(entry: str) -> str:
    """`./src/auth/` -> `src/auth`; `.` or `/` (the whole repository) -> ``."""
    entry = entry.strip().replace("\\", "/")
    while entry.startswith("./"):
        entry = entry[2:]
    return entry.strip("/") if entry not in (".", "/") else ""


def is_under(path: str, entry: str) -> bool:
    """Prefix match on path-segment boundaries: `src/auth2/x` is not under `src/auth`."""
    root = normalize_entry(entry)
    return root == "" or path == root or path.startswith(root + "/")


def out_of_scope(paths: Iterable[str], scope_in: Sequence[str], scope_out: Sequence[str]) -> list[str]:
    """Paths under a `scope.out` entry (out beats in) or under no `scope.in` entry, with the reason."""
    problems = []
    for path in paths:
        excluded = next((e for e in scope_out if is_under(path, e)), None)
        if excluded is not None:
            problems.append(f"{path} (under scope.out {excluded!r})")
        elif not any(is_under(path, e) for e in scope_in):
            problems.append(f"{path} (under no scope.in entry)")
    return problems


def check_scope(stats: DiffStats, scope_in: Sequence[str], scope_out: Sequence[str]) -> Finding | None:
    problems = out_of_scope(stats.touched_paths, scope_in, scope_out)
    if not problems:
        return None
    return Finding("scope_boundary", f"{len(problems)} path(s) outside the spec scope: {_listing(problems)}")


def is_shadow_name(path: str) -> bool:
    """True for shadow copies such as `auth-copy.py`, `util_final.ts`, `new-login.js`."""
    name = path.rsplit("/", 1)[-1].lower()
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return bool(_SHADOW_SUFFIX.search(stem)) or stem.startswith(_SHADOW_PREFIX)


def check_naming(stats: DiffStats) -> Finding | None:
    """Only names that exist after the change: deleting a shadow copy is the fix, not a violation."""
    shadows = [p for p in stats.present_paths if is_shadow_name(p)]
    if not shadows:
        return None
    return Finding("naming", f"{len(shadows)} shadow file name(s): {_listing(shadows)}")


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown if len(items) <= _LISTED else f"{shown} and {len(items) - _LISTED} more"
