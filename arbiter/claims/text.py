"""Text primitives for claimify: sentences, tokens, crude stems, verbs, quantities, negation.

Deterministic and dependency-free on purpose: the same text always gives the same claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _wordlist(text: str) -> list[str]:
    return text.split()


ABBREVIATIONS = frozenset({"e.g", "i.e", "vs", "etc", "mr", "mrs", "dr", "prof", "approx", "fig",
                           "inc", "ltd", "jr", "sr", "st", "cf", "al"})
STOPWORDS = frozenset(_wordlist("""a an the this that these those is are was were be been being am do does did has have
had of to in on at by for with from as and or but if then than so it its it's they them their he she his
her we our you your i me my not no there here which who whom whose what when where why how all any each
into onto over under about after before during while also just only very can could would should will
shall may might must"""))
NEGATIONS = frozenset({"not", "no", "never", "none", "nothing", "neither", "nor", "cannot", "without"})
AUXILIARIES = frozenset(_wordlist("""is are was were be been am has have had do does did will would can could shall
should may might must"""))
_BASE_VERBS = _wordlist("""return raise fix add remove delete rename merge deploy release reach increase decrease drop
fall rise grow fail pass reduce introduce replace migrate upgrade downgrade change move create crash break
use require support implement call store log reject accept take run handle parse count cover block allow
contain include exclude emit cache load save write read send receive publish expose validate verify check
measure improve regress cut double triple halve exceed ship launch land revert patch restore enable disable
produce generate compile build install update limit throttle retry timeout serve process resolve detect
trigger lower speed slow cost occur happen start stop finish complete last hold keep lose win score rank
apply mark reach report show""")
_IRREGULAR = _wordlist("""fell rose grew ran took broke went came made gave got saw became began built
sent kept left led
lost met paid put said set spent stood won wrote hit cut drove held brought bought caught found told beat
drew flew froze knew meant rang sank shook shot slid sold spoke stuck struck threw tore wore woke dealt
overtook undertook""")


def _forms(base: str) -> set[str]:
    stem = base[:-1] if base.endswith("e") else base
    third = base + ("es" if base.endswith(("s", "sh", "ch", "x", "z")) else "s")
    past = base + "d" if base.endswith("e") else (stem[:-1] + "ied" if base.endswith("y") and base[-2] not in
                                                  "aeiou" else base + "ed")
    if base.endswith("y") and base[-2] not in "aeiou":
        third = base[:-1] + "ies"
    return {base, third, past, stem + "ing"}


VERBS = frozenset().union(*(_forms(v) for v in _BASE_VERBS), _IRREGULAR, AUXILIARIES)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'_\-]*|\d+(?:[.,]\d+)*")
_QUANTITY = re.compile(r"(?<![\w.])(-?\d+(?:,\d{3})*(?:\.\d+)?)\s*(%|percent\b|ms\b|s\b|sec\b|seconds\b|"
                       r"minutes?\b|min\b|h\b|hours?\b|gb\b|mb\b|kb\b|x\b|rps\b|qps\b|tps\b|tok/s|tokens/s)?",
                       re.IGNORECASE)
_UNIT_ALIASES = {"percent": "%", "sec": "s", "seconds": "s", "minute": "min", "minutes": "min", "hour": "h",
                 "hours": "h", "tok/s": "tokens/s"}
_UNIT_SCALE = {"s": ("ms", 1000.0), "min": ("ms", 60000.0), "h": ("ms", 3600000.0)}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9`])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text; newlines that start list items or paragraphs also end a sentence."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        block = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", block.strip())
        start = 0
        for match in _BOUNDARY.finditer(block):
            before = block[start:match.start()].rstrip(".!?\"')]").rsplit(None, 1)
            last = before[-1].lower() if before else ""
            initial = before[-1] if before else ""
            if last in ABBREVIATIONS or (len(initial) == 1 and initial.isupper()):
                continue
            sentences.append(block[start:match.start()].strip())
            start = match.end()
        sentences.append(block[start:].strip())
    return [" ".join(s.split()) for s in sentences if s.strip()]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def stem(word: str) -> str:
    """A crude, stable suffix stripper: `returns`/`returned`/`returning` -> `return`."""
    w = word.lower().strip("'").replace("'s", "")
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)]
    return w


def content_stems(text: str, keep_numbers: bool = False) -> set[str]:
    """Stems of the words that carry content (no stopwords; numbers only when asked)."""
    out = set()
    for token in re.split(r"[^A-Za-z0-9%']+", text):
        low = token.lower().strip("'")
        if not low or low in STOPWORDS:
            continue
        if low[0].isdigit() and not keep_numbers:
            continue
        out.add(stem(low))
    return out


def is_verb(token: str) -> bool:
    low = token.lower()
    return low in VERBS or (low.endswith("ed") and len(low) > 4 and low not in STOPWORDS)


def has_negation(text: str) -> bool:
    low = text.lower()
    return "n't" in low or any(w in NEGATIONS for w in re.findall(r"[a-z]+", low))


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None
    key: frozenset[str]  # content stems around the number: what it measures or counts
    tolerance: float = 0.0  # half a unit of its last written digit ("120" -> 0.5, "1.2 s" -> 50 ms)


def quantities(text: str) -> list[Quantity]:
    """Numbers with units normalized (s, min, h -> ms) and the words naming what they measure."""
    found, last_end = [], 0
    for match in _QUANTITY.finditer(text):
        raw, unit = match.group(1).replace(",", ""), (match.group(2) or "").lower() or None
        unit = _UNIT_ALIASES.get(unit, unit) if unit else None
        value, factor = float(raw), 1.0
        if unit in _UNIT_SCALE:
            unit, factor = _UNIT_SCALE[unit]
            value *= factor
        decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
        tolerance = 0.5 * 10 ** -decimals * factor
        before = [s for s in _ordered_stems(text[last_end:match.start()]) if s != unit]
        counted, used = _counted(text[match.end():])
        found.append(Quantity(value, unit, frozenset(before[-3:]) | counted, tolerance))
        last_end = match.end() + used
    return found


_COUNTED = re.compile(r"\s*([A-Za-z][\w'-]*)")


def _counted(rest: str) -> tuple[frozenset[str], int]:
    """What a bare count counts: up to two words right after it ('214 auth tests'), stopping at a
    stopword, a number or punctuation so the next clause's words are never taken. Also returns
    how many characters those words span, so the next number's context starts after them."""
    out, used = [], 0
    while len(out) < 2 and (word := _COUNTED.match(rest, used)) and word.group(1).lower() not in STOPWORDS:
        out.append(stem(word.group(1)))
        used = word.end()
    return frozenset(out), used


def _ordered_stems(text: str) -> list[str]:
    tokens = (t.strip("'") for t in re.split(r"[^A-Za-z0-9']+", text))
    return [stem(t) for t in tokens if t and t.lower() not in STOPWORDS and not t[0].isdigit()]
