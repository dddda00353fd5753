"""Unified diff -> file and line accounting (CONTRACTS 2.2).

Files are the distinct paths a diff changes; a rename (or copy) counts once, under its new path,
and a deletion under its old path. LOC is added plus removed lines; headers (`---`, `+++`, `@@`)
and `\\ No newline at end of file` markers are never counted. Hunk bodies are consumed by the
counts in their `@@` header, so a removed line that reads `-- x` (shown as `--- x`) is a change,
not a header. Handles git extended headers (modes, index, rename/copy, similarity), binary files
(`Binary files ... differ` and `GIT binary patch`), `/dev/null` adds and deletes, CRLF line ends,
quoted paths and a preamble before the first file (commit message, e-mail headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arbiter.diff_headers import PendingFile, git_header_paths, header_path, unquote
from arbiter.result import Err, Ok, Result, err

_IGNORED_HEADERS = ("old mode", "new mode", "index ", "similarity index", "dissimilarity index")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class FileChange:
    path: str
    old_path: str | None
    status: str  # added | deleted | modified | renamed | copied
    binary: bool
    added: int
    removed: int


@dataclass(frozen=True)
class DiffStats:
    """`files` sorted by path; `touched_paths` adds rename sources (they leave their directory)."""

    files: tuple[FileChange, ...]
    touched_paths: tuple[str, ...]
    added: int
    removed: int

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def loc(self) -> int:
        return self.added + self.removed

    @property
    def present_paths(self) -> tuple[str, ...]:
        """Paths that exist after the change (the ones whose names the naming gate checks)."""
        return tuple(f.path for f in self.files if f.status != "deleted")


EMPTY = DiffStats(files=(), touched_paths=(), added=0, removed=0)


def parse_diff(text: str) -> Result[DiffStats]:
    """Parse unified diff text. Empty text is an empty diff; text with no file in it is an error."""
    if not isinstance(text, str):
        return err("diff.type", "$", f"a diff is text, got {type(text).__name__}")
    if not text.strip():
        return Ok(EMPTY)
    parser = _Parser(text)
    failure = parser.run()
    if failure is not None:
        return failure
    if not parser.done:
        return err("diff.not_a_diff", "line 1",
                   "no file header found (expected 'diff --git', or '---' followed by '+++')")
    return Ok(_summarize(parser.done))


class _Parser:
    """Line-by-line state machine; `run()` returns an `Err` on a corrupt diff, else None."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.current: PendingFile | None = None
        self.done: list[PendingFile] = []
        self.old_left = self.new_left = 0
        self.hunk_start = 0
        self.in_binary_patch = False
        self.after_hunk = False

    def run(self) -> Err | None:
        lines = self.lines
        i, n = 0, len(lines)
        while i < n:
            if self.old_left or self.new_left:
                i = self._hunk_body(i)
                if isinstance(i, Err):
                    return i
                continue
            line = lines[i]
            if line.endswith("\r"):
                line = line[:-1]
            step = self._header_line(line, i)
            if isinstance(step, Err):
                return step
            i += step
        if self.old_left or self.new_left:
            return err("diff.truncated_hunk", f"line {self.hunk_start + 1}",
                       f"hunk ends early: {self.old_left} old and {self.new_left} new lines missing")
        self._finish()
        return None

    def _hunk_body(self, i: int) -> int | Err:
        """Consume hunk lines from line i until the header's counts are used up or the text ends; the
        index of the next line. One tight loop with local counters: a 300-line diff is 300 of these."""
        lines, n, cur = self.lines, len(self.lines), self.current
        old_left, new_left, added, removed = self.old_left, self.new_left, 0, 0
        failure: Err | None = None
        while i < n and (old_left or new_left):
            line = lines[i]
            head = line[:1]
            if head == "+":
                added += 1
                new_left -= 1
            elif head == "-":
                removed += 1
                old_left -= 1
            elif head == " " or line == "" or line == "\r":
                old_left -= 1
                new_left -= 1
            elif head != "\\":
                failure = err("diff.truncated_hunk", f"line {i + 1}",
                              f"hunk from line {self.hunk_start + 1} ends early: expected a ' ', '+' or '-' line")
                break
            if old_left < 0 or new_left < 0:
                failure = err("diff.hunk_count", f"line {i + 1}",
                              f"hunk from line {self.hunk_start + 1} has more lines than its @@ header counts")
                break
            i += 1
        cur.added += added
        cur.removed += removed
        self.old_left, self.new_left = old_left, new_left
        self.after_hunk = not (old_left or new_left)
        return failure if failure is not None else i

    def _header_line(self, line: str, i: int) -> int | Err:
        after_hunk, self.after_hunk = self.after_hunk, False
        if self.in_binary_patch and not line.startswith("diff --git "):
            return 1
        if line.startswith("diff --git "):
            self._start(PendingFile(git=True, old=None, new=None), git_header_paths(line[11:]))
            self.in_binary_patch = False
        elif line.startswith("--- ") and i + 1 < len(self.lines) and self.lines[i + 1].startswith("+++ "):
            self._file_names(header_path(line[4:]), header_path(self.lines[i + 1].rstrip("\r")[4:]))
            return 2
        elif line.startswith("@@"):
            return self._hunk_header(line, i)
        elif self.current is not None and self._extended(line):
            pass
        elif after_hunk and line[:1] in ("+", "-") and line != "-- ":
            return err("diff.hunk_count", f"line {i + 1}",
                       "change line outside a hunk: the @@ header counts fewer lines than follow")
        return 1

    def _start(self, pending: PendingFile, names: tuple[str | None, str | None]) -> None:
        self._finish()
        pending.old, pending.new = names
        self.current = pending

    def _file_names(self, old: str | None, new: str | None) -> None:
        cur = self.current
        if cur is None or not cur.git or cur.hunks or cur.saw_names:
            self._start(PendingFile(git=False, old=None, new=None), (None, None))
            cur = self.current
        old, new = _strip_prefixes(old, new)
        cur.saw_names = True
        cur.old = None if old == "/dev/null" else old
        cur.new = None if new == "/dev/null" else new
        cur.added_file = cur.added_file or old == "/dev/null"
        cur.deleted_file = cur.deleted_file or new == "/dev/null"

    def _hunk_header(self, line: str, i: int) -> int | Err:
        match = _HUNK.match(line)
        if match is None:
            return err("diff.hunk_header", f"line {i + 1}", f"malformed hunk header: {line[:60]!r}")
        if self.current is None or (self.current.old is None and self.current.new is None):
            return err("diff.orphan_hunk", f"line {i + 1}", "hunk before any file header")
        self.old_left = int(match.group(2)) if match.group(2) is not None else 1
        self.new_left = int(match.group(4)) if match.group(4) is not None else 1
        self.hunk_start = i
        self.current.hunks += 1
        return 1

    def _extended(self, line: str) -> bool:
        cur = self.current
        if line.startswith("rename from ") or line.startswith("copy from "):
            cur.old = unquote(line.split(" from ", 1)[1])
            cur.status_hint = "copied" if line.startswith("copy") else "renamed"
        elif line.startswith("rename to ") or line.startswith("copy to "):
            cur.new = unquote(line.split(" to ", 1)[1])
        elif line.startswith("new file mode"):
            cur.added_file = True
        elif line.startswith("deleted file mode"):
            cur.deleted_file = True
        elif line.startswith("Binary files ") and line.endswith(" differ"):
            cur.binary = True
        elif line.startswith("GIT binary patch"):
            cur.binary = True
            self.in_binary_patch = True
        else:
            return line.startswith(_IGNORED_HEADERS)
        return True

    def _finish(self) -> None:
        if self.current is not None and (self.current.old or self.current.new):
            self.done.append(self.current)
        self.current = None


def _strip_prefixes(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """Drop git's `a/` and `b/` (only when both sides carry them, or one side is /dev/null)."""
    old_ok = old is None or old == "/dev/null" or old.startswith("a/")
    new_ok = new is None or new == "/dev/null" or new.startswith("b/")
    if old_ok and new_ok:
        old = old[2:] if old and old.startswith("a/") else old
        new = new[2:] if new and new.startswith("b/") else new
    return old, new


def _summarize(pending: list[PendingFile]) -> DiffStats:
    by_path: dict[str, FileChange] = {}
    touched: set[str] = set()
    for item in pending:
        change = item.to_change(FileChange)
        touched.add(change.path)
        if change.old_path and change.status == "renamed":
            touched.add(change.old_path)
        prior = by_path.get(change.path)
        if prior is not None:  # the same path twice (concatenated diffs): one file, summed lines
            change = FileChange(change.path, prior.old_path, prior.status, prior.binary or change.binary,
                                prior.added + change.added, prior.removed + change.removed)
        by_path[change.path] = change
    files = tuple(by_path[p] for p in sorted(by_path))
    return DiffStats(files=files, touched_paths=tuple(sorted(touched)),
                     added=sum(f.added for f in files), removed=sum(f.removed for f in files))
