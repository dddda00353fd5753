"""CAWS wire models. Verdict and waiver documents are validated by the arbiter's JSON Schemas, so they
travel as objects here; the small request shapes are pydantic models with constraints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 200_000  # characters of any one text field of the judge and claimify requests


class ClaimifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT)
    context: dict[str, Any] | None = None
    evidence_manifest: dict[str, Any] | None = None


class JudgeScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=MAX_TEXT)
    candidate: str = Field(max_length=MAX_TEXT)


class JudgeCompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=MAX_TEXT)
    a: str = Field(max_length=MAX_TEXT)
    b: str = Field(max_length=MAX_TEXT)


class JudgeScorePublic(BaseModel):
    score: float = Field(ge=0, le=1)
    clauses: dict[str, float]


class JudgeComparePublic(BaseModel):
    verdict: Literal["A", "B", "TIE"]
    a: JudgeScorePublic
    b: JudgeScorePublic


class ChainReportPublic(BaseModel):
    ok: bool
    length: int
    first_bad_index: int | None


class VerdictsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int


class WaiversPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int
