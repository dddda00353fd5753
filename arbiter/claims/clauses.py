"""Clause structure shared by selection and decomposition.

A sentence is split at coordinating joints (`, and`, `and`, `but`, `;`, `, while`, `whereas`)
only where both sides are clauses: the right side either has its own subject and verb
("... and the currency fell") or is a verb phrase sharing the left subject ("returns 429 and
logs the attempt" -> "logs the attempt" gets the subject back). Noun-phrase lists ("JSON and
YAML") are never split. Attribution ("According to X," / "X reports that") is kept on every part.
"""

from __future__ import annotations

import re

from arbiter.claims.text import is_verb

_JOINT = re.compile(r"\s*;\s*|,?\s+(?:and|but|whereas)\s+|,\s+while\s+", re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"^(according to [^,]{1,80},\s*|(?:[A-Z][\w'.-]*(?:\s+[\w'.-]+){0,6})\s+(?:says|said|reports|reported|"
    r"states|stated|shows|showed|notes|noted|highlights|highlighted|claims|claimed|found|confirms|confirmed)"
    r"\s+that\s+)", re.IGNORECASE)
_DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "its", "their", "our", "his", "her",
                          "it", "they", "he", "she", "we", "i", "you", "there", "all", "each", "every", "no",
                          "some", "both", "my", "your"})


def split_attribution(sentence: str) -> tuple[str, str]:
    """("According to the report, ", "p95 is 120 ms") or ("", sentence)."""
    match = _ATTRIBUTION.match(sentence)
    return (match.group(1), sentence[match.end():]) if match else ("", sentence)


def first_verb(tokens: list[str], start: int = 0) -> int | None:
    for i in range(start, len(tokens)):
        if is_verb(tokens[i]):
            return i
    return None


def subject_of(clause: str) -> str:
    """The words before the first verb ("The login endpoint" of "The login endpoint returns 429")."""
    tokens = clause.split()
    verb = first_verb([t.strip(",;:.!") for t in tokens], 1 if len(tokens) > 1 else 0)
    return " ".join(tokens[:verb]) if verb else ""


def _kind(part: str) -> str:
    """'clause' (own subject and verb), 'verb_phrase' (starts with a verb) or 'phrase'."""
    tokens = [t.strip(",;:") for t in part.split()]
    if not tokens:
        return "phrase"
    if is_verb(tokens[0]) and tokens[0].lower() not in {"cut", "set", "hit", "put"}:
        return "verb_phrase"
    verb = first_verb(tokens, 1)
    if verb is not None and verb <= 5:
        head = tokens[0]
        if head.lower() in _DETERMINERS or head[:1].isupper() or head[:1].isdigit() or verb <= 2:
            return "clause"
    return "phrase"


def _raw_parts(body: str) -> list[str]:
    """Cut at joints, but not inside parentheses or quotes."""
    parts, start, depth = [], 0, 0
    for match in _JOINT.finditer(body):
        segment = body[start:match.start()]
        depth = body[:match.start()].count("(") - body[:match.start()].count(")")
        if depth > 0 or body[:match.start()].count('"') % 2:
            continue
        parts.append(segment)
        start = match.end()
    parts.append(body[start:])
    return [p.strip(" ,") for p in parts if p.strip(" ,")]


def split_clauses(sentence: str) -> list[str]:
    """Full clauses of a sentence, each with its subject and the sentence's attribution."""
    prefix, body = split_attribution(sentence.strip().rstrip(".!"))
    parts = _raw_parts(body)
    if not parts:
        return []
    if len(parts) == 1 or _kind(parts[0]) != "clause":
        return [_finish(prefix, body)]
    clauses = [parts[0]]
    subject = subject_of(parts[0])
    for part in parts[1:]:
        kind = _kind(part)
        if kind == "clause":
            clauses.append(part)
            subject = subject_of(part) or subject
        elif kind == "verb_phrase" and subject:
            clauses.append(f"{subject} {part}")
        else:  # a list item or fragment: it belongs to the clause before it
            clauses[-1] = f"{clauses[-1]} and {part}"
    return [_finish(prefix, c) for c in clauses]


def _finish(prefix: str, clause: str) -> str:
    clause = clause.strip().rstrip(".,;")
    if prefix:
        return f"{prefix}{clause}."
    first = clause.split()[0] if clause.split() else ""
    return (clause[:1].upper() + clause[1:] if first.isalpha() else clause) + "."
