"""Text hygiene for generated data: NFC + LF normalization, PII redaction, URL allow-listing."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlparse

ALLOWED_HOSTS = frozenset({"example.com", "example.org", "example.net"})

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ -])?\(?\d{3}\)?[ -]\d{3}[ -]\d{4}(?![\w])")
CARD_RE = re.compile(r"(?<!\d)(?:\d{4}[ -]){3}\d{4}(?!\d)")
URL_RE = re.compile(r"https?://[^\s\"'<>`)\]]+")

REDACTIONS = (("[EMAIL]", EMAIL_RE), ("[PHONE]", PHONE_RE), ("[CARD]", CARD_RE))
# What each pattern cannot match without: most generated texts have no "@", no run of three digits and no
# URL, and the patterns' lookbehinds make them try every position (redaction was a third of `data gen`).
_NEEDS = {EMAIL_RE: re.compile("@"), PHONE_RE: re.compile(r"\d{3}"), CARD_RE: re.compile(r"\d{4}"),
          URL_RE: re.compile("https?://")}


def _may_match(pattern: re.Pattern[str], text: str) -> bool:
    return _NEEDS[pattern].search(text) is not None


def normalize(text: str) -> str:
    """Unicode NFC and LF line endings."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def is_normalized(text: str) -> bool:
    return "\r" not in text and unicodedata.is_normalized("NFC", text)


def url_allowed(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    host = host.removeprefix("www.")
    return host in ALLOWED_HOSTS


def redact(text: str) -> str:
    """Replace PII with typed placeholders and URLs on non-allow-listed hosts with `[URL]`."""
    for placeholder, pattern in REDACTIONS:
        if _may_match(pattern, text):
            text = pattern.sub(placeholder, text)
    if not _may_match(URL_RE, text):
        return text
    return URL_RE.sub(lambda m: m.group(0) if url_allowed(m.group(0)) else "[URL]", text)


def clean(text: str) -> str:
    return redact(normalize(text))


def privacy_problems(text: str) -> list[str]:
    """What `redact` would have removed: PII kinds found and URLs off the allow-list."""
    problems = [f"pii:{name.strip('[]').lower()}" for name, pattern in REDACTIONS
                if _may_match(pattern, text) and pattern.search(text)]
    if _may_match(URL_RE, text):
        problems += [f"url_not_allowed:{u}" for u in URL_RE.findall(text) if not url_allowed(u)]
    return problems
