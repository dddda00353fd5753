"""Claimify stage 2, disambiguation: resolve references from the given context, or give up.

Resolved only where readers would agree: a pronoun takes the subject of the nearest preceding
sentence when that sentence has exactly one (not "the parser and the lexer", not two clauses
with different subjects); a demonstrative pronoun ("This keeps ...") is never guessed; a
temporal reference ("then", "at that time") takes the one time expression of the nearest
preceding sentence that has any; "this change" takes `context.change`; any phrase in
`context.references` is replaced as given; a defined acronym gains its expansion as bracketed
context. A referential or structural ambiguity that cannot be resolved makes the sentence
`cannot_disambiguate`, and it yields no claims. No outside knowledge is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from arbiter.claims.clauses import split_attribution, split_clauses, subject_of
from arbiter.claims.text import STOPWORDS, content_stems

_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|she|him|his|her)\b", re.IGNORECASE)
_LEADING_DEMONSTRATIVE = re.compile(r"^(this|that|these|those)(?=\s+(is|are|was|were|has|have|had|will|\w+ed|"
                                    r"\w+s)\b)", re.IGNORECASE)
_DEMONSTRATIVE_NOUN = re.compile(r"\b(this|that|these|those)\s+([a-z][\w-]*)", re.IGNORECASE)
_EXPLETIVE = re.compile(r"\bit\s+(is|was|seems|appears|takes|took)\s+(\w+\s+)?(that|to|likely|possible|clear|"
                        r"true|important|necessary)\b", re.IGNORECASE)
_TEMPORAL = re.compile(r"\b(back then|at that time|at the time|that day|that week|that month|that year|"
                       r"the next day|the following day|the day before|then)\b", re.IGNORECASE)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_TIME = re.compile(rf"\b(on {_DAY}|on \d{{4}}-\d{{2}}-\d{{2}}|on {_MONTH} \d{{1,2}}(?:,? \d{{4}})?|"
                   rf"in {_MONTH}(?: \d{{4}})?|in (?:19|20)\d{{2}}|\d{{4}}-\d{{2}}-\d{{2}}|yesterday|"
                   rf"last (?:week|month|year|night)|at \d{{1,2}}:\d{{2}}(?: ?utc)?|in release [\w.]+)\b",
                   re.IGNORECASE)
_STRUCTURAL = re.compile(r"\b\w+ and \w+ or \w+\b|\b\w+ or \w+ and \w+\b", re.IGNORECASE)
_ACRONYM_DEF = re.compile(r"\b((?:[A-Za-z][\w-]*\s+){1,6}[A-Za-z][\w-]*)\s+\(([A-Z]{2,6})\)")
_CHANGE_NOUNS = frozenset({"change", "pr", "patch", "commit", "diff", "plea", "fix"})
_ADVERBS = frozenset({"also", "still", "now", "only", "just", "already", "really", "currently", "finally", "again",
                      "even", "thus", "then", "further"})
_PREPOSITIONS = frozenset({"in", "on", "at", "for", "with", "from", "by", "of", "to", "since", "after", "before",
                           "during", "until"})
_Step = tuple[str, list[str], str | None]  # (text, notes, failure reason)
_FAMILY = {"it": "it", "its": "it", "they": "they", "them": "they", "their": "they", "he": "he", "him": "he",
           "his": "he", "she": "she", "her": "she"}


@dataclass(frozen=True)
class ClaimContext:
    """What a sentence may be resolved against besides the text before it."""

    prior_text: str = ""
    change: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Disambiguation:
    status: str  # no_ambiguity | resolved | cannot_disambiguate
    text: str
    reason: str | None = None
    brackets: tuple[str, ...] = ()


def disambiguate(sentence: str, preceding: Sequence[str], context: ClaimContext) -> Disambiguation:
    text, notes = _apply_references(sentence, context)
    structural = _STRUCTURAL.search(text)
    if structural:
        return _cannot(sentence, f"structural: the grouping of '{structural.group(0)}' is ambiguous")
    for step in (_resolve_demonstratives, _resolve_pronouns, _resolve_temporal):
        text, note, failure = step(text, preceding, context)
        if failure:
            return _cannot(sentence, failure)
        notes += note
    brackets = _acronyms(text, [*preceding, context.prior_text])
    if not notes and not brackets:
        return Disambiguation("no_ambiguity", text)
    reason = "; ".join(notes + [f"expanded {b}" for b in brackets])
    return Disambiguation("resolved", text, reason, tuple(brackets))


def _cannot(sentence: str, reason: str) -> Disambiguation:
    return Disambiguation("cannot_disambiguate", sentence, reason)


def _apply_references(text: str, context: ClaimContext) -> tuple[str, list[str]]:
    notes = []
    for phrase, replacement in sorted(context.references.items()):
        pattern = re.compile(rf"\b{re.escape(phrase)}\b", re.IGNORECASE)
        if pattern.search(text):
            text = pattern.sub(replacement, text)
            notes.append(f"'{phrase}' -> '{replacement}' (context)")
    return text, notes


def _resolve_demonstratives(text: str, preceding: Sequence[str], context: ClaimContext) -> _Step:
    """`this change` -> context.change; `this limiter` -> `the limiter` if named just before; else give up."""
    lead = _LEADING_DEMONSTRATIVE.match(text)
    for match in _DEMONSTRATIVE_NOUN.finditer(text):
        noun = match.group(2).lower()
        if noun in STOPWORDS or (match.group(1).lower() == "that" and not _demonstrative_that(text, match)):
            continue
        if noun in _CHANGE_NOUNS and context.change:
            return _swap(text, match, context.change), [f"'{match.group(0)}' -> '{context.change}'"], None
        if any(re.search(rf"\b{re.escape(noun)}\b", p, re.IGNORECASE) for p in preceding[-2:]):
            return _swap(text, match, f"the {match.group(2)}"), [f"'{match.group(0)}' refers back"], None
        if lead and match.start() == 0:  # "This keeps ...": a whole earlier statement; readers would not agree
            return text, [], f"referential: '{lead.group(1)}' stands for an earlier statement the text does not name"
        return text, [], f"referential: '{match.group(0)}' has no antecedent in context"
    if lead:
        return text, [], f"referential: '{lead.group(1)}' stands for an earlier statement the text does not name"
    return text, [], None


def _demonstrative_that(text: str, match: re.Match[str]) -> bool:
    """'That change ...' or '... in that release': not the complementizer of 'says that the ...'."""
    before = text[:match.start()].split()
    return not before or before[-1].lower() in _PREPOSITIONS


def _resolve_pronouns(text: str, preceding: Sequence[str], context: ClaimContext) -> _Step:
    """Every pronoun takes the one antecedent; pronouns of different families cannot share it."""
    masked = _EXPLETIVE.sub(lambda m: "_" * len(m.group(0)), text)
    matches = list(_PRONOUN.finditer(masked))
    if not matches:
        return text, [], None
    pronouns = [m.group(1) for m in matches]
    families = {_FAMILY[p.lower()] for p in pronouns}
    if len(families) > 1:
        return text, [], f"referential: {', '.join(repr(p) for p in pronouns)} may name different things"
    candidates = _antecedents(preceding)
    if not candidates:
        return text, [], f"referential: '{pronouns[0]}' has no antecedent in context"
    if len(candidates) > 1 and families != {"they"}:
        return text, [], f"referential: '{pronouns[0]}' could mean {' or '.join(repr(c) for c in candidates)}"
    antecedent = " and ".join(candidates)
    if " and " in antecedent.lower() and families != {"they"}:
        return text, [], f"referential: '{pronouns[0]}' could mean either part of '{antecedent}'"
    for match in reversed(matches):
        text = _swap(text, match, _pronoun_form(antecedent, match.group(1), match.start()))
    return text, [f"'{p}' -> '{antecedent}'" for p in dict.fromkeys(pronouns)], None


def _pronoun_form(antecedent: str, pronoun: str, start: int) -> str:
    """`its` -> `the parser's`; an article is lower-cased inside a sentence."""
    form = antecedent + ("'s" if pronoun.lower() in {"its", "their", "his"} else "")
    if start > 0 and form.split()[0].lower() in {"the", "a", "an"}:
        form = form[:1].lower() + form[1:]
    return form


def _resolve_temporal(text: str, preceding: Sequence[str], context: ClaimContext) -> _Step:
    match = _TEMPORAL.search(text)
    if match is None or (match.group(1).lower() == "then" and re.search(r"\bif\b", text, re.IGNORECASE)):
        return text, [], None
    for sentence in reversed(preceding):
        times = sorted({t.group(1) for t in _TIME.finditer(sentence)})
        if len(times) == 1:
            return _swap(text, match, times[0]), [f"'{match.group(1)}' -> '{times[0]}'"], None
        if len(times) > 1:
            return text, [], f"referential: '{match.group(1)}' could mean {' or '.join(times)}"
    return text, [], f"referential (temporal): '{match.group(1)}' has no antecedent in context"


def _antecedents(preceding: Sequence[str]) -> tuple[str, ...]:
    """Clause subjects of the nearest preceding sentence that has any: one is a consensus, more are not."""
    for sentence in reversed(preceding[-2:]):
        subjects: list[str] = []
        for clause in split_clauses(sentence):
            subject = _noun_subject(subject_of(split_attribution(clause)[1]))
            if subject and subject.lower() not in (s.lower() for s in subjects):
                subjects.append(subject)
        if subjects:
            return tuple(subjects)
    return ()


def _noun_subject(subject: str) -> str:
    """The subject without trailing adverbs ('the parser also' -> 'the parser'); '' for pronouns."""
    words = subject.strip(" ,").split()
    while words and words[-1].lower() in _ADVERBS:
        words.pop()
    subject = " ".join(words)
    return subject if content_stems(subject) and not _LEADING_DEMONSTRATIVE.match(subject + " is") else ""


def _swap(text: str, match: re.Match[str], replacement: str) -> str:
    if match.start() == 0:
        replacement = replacement[:1].upper() + replacement[1:]
    return text[:match.start()] + replacement + text[match.end():]


def _acronyms(text: str, sources: Sequence[str]) -> list[str]:
    """`TTFT: time to first token` for an acronym used in `text` and defined in a source."""
    found = []
    for source in sources:
        for match in _ACRONYM_DEF.finditer(source):
            words, acronym = match.group(1).split(), match.group(2)
            expansion = " ".join(words[-len(acronym):])
            initials = "".join(w[0] for w in words[-len(acronym):]).upper()
            entry = f"{acronym}: {expansion}"
            if initials == acronym and re.search(rf"\b{acronym}\b", text) and entry not in found:
                found.append(entry)
    return found
