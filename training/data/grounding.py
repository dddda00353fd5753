"""Integration grounding: is a statement in an answer supported by the tool results it cites?

One implementation, shared by the dataset verifier and the evaluation scorer.

- strict: the span contains a whole scalar field of a result (string ≤ 200 chars, exact), or a
  number / date equal to a numeric / date field, read with the sample's locale ("1.234,5" in de,
  "1 234,5" in fr, dates dd.mm.yyyy or dd/mm/yyyy).
- lax: strict, or, case- and whitespace-insensitively, an identifier-like word of the span
  (`load_token`, `p95`, a path) or a number of the span occurs inside any result text, or a URL's
  host and first path segment match a result URL.

Per item: precision = grounded spans / spans; recall = 1 if any span is grounded, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

_NUM = {
    "en": re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])"),
    "de": re.compile(r"(?<![\w,])-?\d{1,3}(?:\.\d{3})+(?:,\d+)?(?![\w])|(?<![\w,.])-?\d+(?:,\d+)?(?![\w])"),
    "fr": re.compile(r"(?<![\w,])-?\d{1,3}(?:[ \u202f\xa0]\d{3})+(?:,\d+)?(?![\w])|(?<![\w,])-?\d+(?:,\d+)?(?![\w])"),
}
_NUM["es"] = _NUM["de"]
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(\d{2})[./](\d{2})[./](\d{4})\b")
_IDENT = re.compile(r"[\w./-]*[_/.\d][\w./-]*")
_URL = re.compile(r"https?://[^\s\"'<>`)\]]+")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def leaves(obj: Any) -> Iterable[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaves(v)
    else:
        yield obj


def parse_numbers(text: str, lang: str = "en") -> list[float]:
    out = []
    for m in _NUM.get(lang, _NUM["en"]).finditer(text):
        s = m.group(0)
        if lang in ("de", "es"):
            s = s.replace(".", "").replace(",", ".")
        elif lang == "fr":
            s = re.sub(r"[ \u202f\xa0]", "", s).replace(",", ".")
        out.append(float(s))
    return out


def parse_dates(text: str) -> list[str]:
    out = []
    for m in _DATE.finditer(text):
        y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(6), m.group(5), m.group(4))
        out.append(f"{y}-{mo}-{d}")
    return out


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip()):
        return float(value)
    return None


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


class Evidence:
    """The tool results an answer may cite, indexed once for many spans."""

    def __init__(self, results: Iterable[dict[str, Any]]):
        values = [v for r in results for v in leaves(r)]
        self.numbers = [n for v in values if (n := _as_number(v)) is not None]
        strings = [v for v in values if isinstance(v, str)]
        self.short = [s for s in strings if 3 <= len(s) <= 200 and _as_number(s) is None]
        self.dates = {s for s in strings if _ISO_DATE.match(s)}
        self.text = _fold("\n".join(strings))
        self.urls = {_url_key(u) for s in strings for u in _URL.findall(s)}

    def strict(self, span: str, lang: str = "en") -> bool:
        if any(s in span for s in self.short):
            return True
        if self.dates & set(parse_dates(span)):
            return True
        return any(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a in parse_numbers(span, lang) for b in self.numbers)

    def lax(self, span: str, lang: str = "en") -> bool:
        if self.strict(span, lang) or self.strict(span, "en"):
            return True
        folded = _fold(span)
        if any(len(w) >= 3 and w in self.text for w in _IDENT.findall(folded)):
            return True
        if any(re.search(rf"(?<![\w.]){re.escape(_fmt(n))}(?![\w])", self.text) for n in parse_numbers(span, lang)):
            return True
        return any(_url_key(u) in self.urls for u in _URL.findall(span))


def _fmt(n: float) -> str:
    return str(int(n)) if n == int(n) else repr(n)


def _url_key(url: str) -> str:
    p = urlparse(url)
    first = p.path.strip("/").split("/")[0] if p.path else ""
    return f"{(p.hostname or '').removeprefix('www.')}/{first}"


def integration_prf(spans: list[str], evidence: Evidence, lang: str, mode: str) -> tuple[float, float, float]:
    """(precision, recall, f1) of one item's integration spans."""
    if not spans:
        return 0.0, 0.0, 0.0
    check = evidence.strict if mode == "strict" else evidence.lax
    grounded = sum(check(s, lang) for s in spans)
    p, r = grounded / len(spans), 1.0 if grounded else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
