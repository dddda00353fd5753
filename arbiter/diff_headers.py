"""File-header helpers for `arbiter.diffs`: path parsing, git quoting, the per-file accumulator."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_OCTAL = re.compile(r"[0-7]{3}")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "r": "\r"}


@dataclass
class PendingFile:
    """Mutable while one file's section is read; frozen into a `FileChange` at the end."""

    git: bool
    old: str | None
    new: str | None
    added: int = 0
    removed: int = 0
    hunks: int = 0
    binary: bool = False
    added_file: bool = False
    deleted_file: bool = False
    saw_names: bool = False
    status_hint: str | None = None

    def to_change(self, factory: Any) -> Any:
        """The counted path is the new one; a deletion counts under its old path."""
        if (self.deleted_file or self.new is None) and self.old is not None:
            return factory(self.old, self.old, "deleted", self.binary, self.added, self.removed)
        if self.added_file or self.old is None:
            return factory(self.new, None, "added", self.binary, self.added, self.removed)
        if self.old != self.new:
            status = self.status_hint or "renamed"
            return factory(self.new, self.old, status, self.binary, self.added, self.removed)
        return factory(self.new, self.old, "modified", self.binary, self.added, self.removed)


def unquote(text: str) -> str:
    """Undo git's C-style path quoting (`"a/caf\\303\\251"`); unquoted text is returned as is."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if _OCTAL.fullmatch(body[i + 1:i + 4]):
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode("utf-8"))
            i += 2
            continue
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", errors="replace")


def header_path(text: str) -> str:
    """The path of a `---`/`+++` line: quoted or not, minus a tab-separated timestamp."""
    text = text.strip()
    if text.startswith('"'):
        end = _closing_quote(text)
        return unquote(text[: end + 1])
    path = text.split("\t", 1)[0].rstrip()
    return path[2:] if path.startswith("./") else path


def git_header_paths(rest: str) -> tuple[str | None, str | None]:
    """Both paths of `diff --git A B`, prefixes `a/` and `b/` removed.

    Unquoted paths with spaces are ambiguous; the two halves of `a/X b/X` are equal for every
    change but a rename, and renames name their paths again in `rename from`/`rename to`.
    """
    rest = rest.strip()
    if rest.startswith('"'):
        end = _closing_quote(rest)
        old, new = unquote(rest[: end + 1]), header_path(rest[end + 1:])
    else:
        half = (len(rest) - 1) // 2
        if len(rest) % 2 == 1 and rest[half] == " " and rest[2:half] == rest[half + 3:]:
            old, new = rest[:half], rest[half + 1:]
        else:
            cut = rest.rfind(" b/")
            old, new = (rest[:cut], rest[cut + 1:]) if cut > 0 else (rest, rest)
        new = unquote(new)
    return _drop(old, "a/"), _drop(new, "b/")


def _drop(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.startswith(prefix) else path


def _closing_quote(text: str) -> int:
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return len(text) - 1
