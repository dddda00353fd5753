"""PII redaction and the privacy check (training/data/text.py): every kind is caught, nothing else moves."""

from __future__ import annotations

import pytest

from training.data.text import privacy_problems, redact

CASES = [
    ("mail ana.lopez+ops@corp-mail.io now", "mail [EMAIL] now", ["pii:email"]),
    ("call (415) 555-0134 or +1 415-555-0199", "call [PHONE] or [PHONE]", ["pii:phone"]),
    ("card 4111 1111 1111 1111 on file", "card [CARD] on file", ["pii:card"]),
    ("see https://evil.test/x and https://example.com/ok", "see [URL] and https://example.com/ok",
     ["url_not_allowed:https://evil.test/x"]),
    ("port 8080, 12 retries, 2026 budget", "port 8080, 12 retries, 2026 budget", []),
    ("plain words only", "plain words only", []),
]


@pytest.mark.parametrize(("text", "redacted", "problems"), CASES)
def test_redaction_and_the_privacy_check_agree(text: str, redacted: str, problems: list[str]):
    assert redact(text) == redacted
    assert privacy_problems(text) == problems
    assert privacy_problems(redacted) == []
