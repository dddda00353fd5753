"""Claimify stage 1, selection: keep only sentences with a specific, verifiable proposition.

Dropped: questions, introductions and conclusions ("Here is...", "In summary, overall good"),
statements of missing information, opinions ("this is a great design") and generic statements
with nothing to check ("testing is important"). A sentence mixing opinion and fact is rewritten
to its verifiable clauses, and hedges ("I think") are removed. Ambiguity is not judged here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arbiter.claims.clauses import split_clauses
from arbiter.claims.text import AUXILIARIES, is_verb, words

_INTRO = re.compile(r"^(here is|here are|here's|below|the following|let me|let's|sure|certainly|thanks|thank you|"
                    r"i hope|hope this|feel free|as an ai|great question)\b", re.IGNORECASE)
_LEAD_IN = re.compile(r"^(in summary|in conclusion|to summarize|to sum up|overall|in short|basically|honestly|"
                      r"notably|importantly|interestingly|in my opinion|i think|i believe|i feel|we believe|"
                      r"we think|it seems|it appears|arguably|clearly|obviously)(\s+that)?[,:]?\s+", re.IGNORECASE)
_NO_INFO = re.compile(r"\b(i don't know|i do not know|no information|not sure|unclear whether|cannot determine|"
                      r"unknown whether|there is no data)\b", re.IGNORECASE)
OPINION = frozenset({"great", "good", "bad", "nice", "awesome", "amazing", "excellent", "terrible", "horrible",
                     "beautiful", "elegant", "ugly", "impressive", "wonderful", "fantastic", "brilliant", "love",
                     "hate", "exciting", "boring", "interesting", "cool", "powerful", "delightful", "lovely",
                     "awful", "solid", "neat", "clever", "should", "ought", "hopefully", "pleasant", "messy"})
_FACT_WORDS = frozenset({"latency", "throughput", "p50", "p90", "p95", "p99", "ttft", "coverage", "deployed",
                         "released", "merged", "production-ready", "percent", "users", "version", "tests",
                         "january", "february", "march", "april", "may", "june", "july", "august", "september",
                         "october", "november", "december", "monday", "tuesday", "wednesday", "thursday",
                         "friday", "saturday", "sunday", "yesterday", "today", "one", "two", "three", "four",
                         "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand", "million", "billion"})
_DO_VERB = re.compile(r"\b(?:does|do|did|will|can|cannot|doesn't|don't|didn't|won't|can't)\s+(?:not\s+)?[a-z]{3,}",
                      re.IGNORECASE)
_CODE = re.compile(r"`[^`]+`|\b\w+\(\)|\b\w+_\w+\b|\b\w+\.\w{1,5}\b|\w/\w|\b[a-z]+[A-Z]\w*\b|--\w+")


@dataclass(frozen=True)
class Selection:
    selected: bool
    text: str
    reason: str


def anchors(clause: str) -> list[str]:
    """What makes a clause checkable: numbers, names, code, quotes, dated or measured facts, events."""
    found = []
    tokens = words(clause)
    if re.search(r"\d", clause):
        found.append("number")
    if any(t[:1].isupper() and (i > 0 or "'" in t or t.isupper()) and t not in {"I"} for i, t in enumerate(tokens)):
        found.append("name")
    if _CODE.search(clause) or re.search(r"\"[^\"]+\"", clause):
        found.append("code_or_quote")
    low = {t.lower() for t in tokens}
    if low & _FACT_WORDS:
        found.append("measure_or_date")
    if any(is_verb(t) and t not in AUXILIARIES for t in low) or _DO_VERB.search(clause):
        found.append("event")
    return found


def is_opinion(clause: str) -> bool:
    return any(t.lower() in OPINION for t in words(clause))


def select(sentence: str) -> Selection:
    text = sentence.strip()
    if text.endswith("?"):
        return Selection(False, text, "question")
    if _INTRO.match(text) or text.endswith(":"):
        return Selection(False, text, "introduction or meta statement")
    if _NO_INFO.search(text):
        return Selection(False, text, "states a lack of information")
    while (lead := _LEAD_IN.match(text)) is not None:
        text = text[lead.end():]
    kept, dropped_opinion = [], False
    clauses = split_clauses(text)
    for clause in clauses:
        if is_opinion(clause) and len(anchors(clause)) < 2:
            dropped_opinion = True
        elif anchors(clause):
            kept.append(clause)
    if not kept:
        reason = "opinion" if dropped_opinion or is_opinion(text) else "generic: no specific, verifiable proposition"
        return Selection(False, sentence.strip(), reason)
    rewritten = text if len(kept) == len(clauses) else " ".join(kept)
    changed = rewritten.rstrip(".!") != sentence.strip().rstrip(".!")
    return Selection(True, rewritten, "rewritten to its verifiable content" if changed else "verifiable")
