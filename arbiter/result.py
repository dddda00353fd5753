"""Results and diagnostics as data.

Every public check returns `Ok(value)` or `Err(errors)`; only programmer errors raise. A
`Diagnostic` names the rule that failed (a stable dotted id: clients match on it, never on the
message), the field path (`$.acceptance[0].id`, or `line 12` for text inputs) and a message.
Rule ids are a public contract: renaming one is a breaking change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Diagnostic:
    """One finding about an input: which rule, where, and what is wrong."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return True

    def unwrap(self) -> T:
        return self.value


@dataclass(frozen=True)
class Err:
    errors: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return False

    def unwrap(self) -> None:
        raise InvalidInput(self.errors)


Result = Ok[T] | Err


class InvalidInput(ValueError):
    """Raised by `unwrap()` on an `Err`: carries the diagnostics for callers that prefer raising."""

    def __init__(self, errors: Iterable[Diagnostic]):
        self.errors = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "invalid input")


def err(rule: str, path: str, message: str) -> Err:
    return Err((Diagnostic(rule, path, message),))
