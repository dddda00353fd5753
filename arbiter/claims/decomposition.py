"""Claimify stage 3, decomposition: a disambiguated sentence -> atomic, decontextualized claims.

Each claim is one proposition that means the same alone as in its sentence: compound sentences
split at clause joints (`arbiter.claims.clauses`), a shared subject is repeated, attribution is
kept on every claim ("The team reports that ..."), and a possessor the first clause names is
carried to a later "the X" subject as bracketed context ("The currency [of Argentina] fell.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arbiter.claims.clauses import split_attribution, split_clauses, subject_of
from arbiter.claims.text import is_verb

_POSSESSOR = re.compile(r"^([A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)'s\s+\w+")


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source_sentence: str
    sentence_index: int
    brackets: tuple[str, ...] = ()


def decompose(text: str) -> list[str]:
    """Atomic statements of one sentence, in order; fragments without a verb are dropped."""
    statements = []
    possessor = None
    for i, clause in enumerate(split_clauses(text)):
        prefix, body = split_attribution(clause)
        subject = subject_of(body)
        if i == 0:
            found = _POSSESSOR.match(subject)
            possessor = found.group(1) if found else None
        elif possessor and subject.lower().startswith("the ") and possessor not in body:
            body = f"{subject} [of {possessor}]{body[len(subject):]}"
        if any(is_verb(w.strip(",.;:")) for w in body.split()):
            statements.append(prefix + body)
    return statements


def number_claims(sentences: list[tuple[int, str, list[str], tuple[str, ...]]]) -> list[Claim]:
    """Claim ids `C1`, `C2`, ... across the whole text, in reading order, duplicates dropped.

    Each entry is (sentence index, source sentence, statements, bracketed context).
    """
    claims: list[Claim] = []
    seen: set[str] = set()
    for index, source, statements, brackets in sentences:
        for statement in statements:
            key = " ".join(statement.lower().split())
            if key in seen:
                continue
            seen.add(key)
            claims.append(Claim(f"C{len(claims) + 1}", statement, source, index, brackets))
    return claims
