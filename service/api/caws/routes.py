"""Thin CAWS routes: authenticate and limit (dependencies), call the CAWS serving object, return its data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.api.auth import Adjudicator, Reader, WaiverApprover, WaiverWriter, authorize
from service.api.caws.protocol import (
    ChainReportPublic,
    ClaimifyRequest,
    JudgeComparePublic,
    JudgeCompareRequest,
    JudgeScorePublic,
    JudgeScoreRequest,
    VerdictsPublic,
    WaiversPublic,
)
from service.api.deps import CawsDep, SettingsDep
from service.api.protocol import ErrorResponse

ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 429, 503)}
JsonObject = Annotated[dict[str, Any], Body()]

router = APIRouter(prefix="/caws", tags=["caws"], responses=ERRORS)


@router.post("/adjudicate", response_model=dict[str, Any])
async def adjudicate(request: Request, body: JsonObject, caws: CawsDep, settings: SettingsDep,
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JSONResponse:
    """Adjudicate one plea or up to 8 candidates; the verdict is persisted and chained before it is returned.
    Needs scope `adjudicate`."""

    def work() -> dict[str, Any]:
        principal = authorize(request, settings, caws, "adjudicate")
        return caws.adjudicate(body, principal=principal, idempotency_key=idempotency_key)

    # The busiest route: key check and adjudication in one thread-pool hop (each hop waits for a thread
    # and the GIL), and the record, plain JSON the arbiter validated, encoded without FastAPI's encoder.
    return JSONResponse(await run_in_threadpool(work))


@router.get("/verdicts/{verdict_id}")
def get_verdict(verdict_id: str, caws: CawsDep, _: Reader) -> dict[str, Any]:
    """One verdict record by id."""
    return caws.verdict(verdict_id)


@router.get("/verdicts")
def list_verdicts(caws: CawsDep, _: Reader, change_id: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> VerdictsPublic:
    """Verdicts in chain order, optionally of one change."""
    return VerdictsPublic(**caws.verdicts(change_id, limit, offset))


@router.get("/provenance/verify")
def verify_provenance(caws: CawsDep, _: Reader) -> ChainReportPublic:
    """Recompute the whole hash chain against the stored verdicts."""
    return ChainReportPublic(**caws.verify_chain())


@router.post("/waivers", status_code=201)
def create_waiver(body: JsonObject, caws: CawsDep, principal: WaiverWriter) -> dict[str, Any]:
    """Propose a waiver; the caller is its creator and can never approve it."""
    return caws.create_waiver(body, principal=principal)


@router.post("/waivers/{waiver_id}/approve")
def approve_waiver(waiver_id: str, caws: CawsDep, principal: WaiverApprover) -> dict[str, Any]:
    """Approve a waiver (once per principal); it becomes active when it holds the approvals it needs."""
    return caws.approve_waiver(waiver_id, principal=principal)


@router.post("/waivers/{waiver_id}/revoke")
def revoke_waiver(waiver_id: str, caws: CawsDep, _: WaiverWriter) -> dict[str, Any]:
    """Revoke a waiver for good."""
    return caws.revoke_waiver(waiver_id)


@router.get("/waivers/{waiver_id}")
def get_waiver(waiver_id: str, caws: CawsDep, _: Reader) -> dict[str, Any]:
    """One waiver with its approvers and status."""
    return caws.waiver(waiver_id)


@router.get("/waivers")
def list_waivers(caws: CawsDep, _: Reader, applies_to: str | None = None,
                 status: Literal["proposed", "active", "revoked"] | None = None) -> WaiversPublic:
    """Waivers by id, optionally of one spec or one status."""
    return WaiversPublic(**caws.waivers(applies_to, status))


@router.post("/claimify")
def claimify(body: ClaimifyRequest, caws: CawsDep, _: Adjudicator) -> dict[str, Any]:
    """Extract the checkable claims of a text and, with an evidence manifest, verify them."""
    return caws.claimify(body.text, body.context, body.evidence_manifest)


@router.post("/judge/score")
def judge_score(body: JudgeScoreRequest, caws: CawsDep, settings: SettingsDep, _: Adjudicator) -> JudgeScorePublic:
    """The Judge's score and clause probabilities for one candidate (503 without a Judge)."""
    judge = caws.judge_or_503(settings.retry_after_s)
    return JudgeScorePublic(**caws.score(judge, body.prompt, body.candidate))


@router.post("/judge/compare")
def judge_compare(body: JudgeCompareRequest, caws: CawsDep, settings: SettingsDep,
                  _: Adjudicator) -> JudgeComparePublic:
    """Which of two candidates the Judge prefers: A, B or TIE (503 without a Judge)."""
    judge = caws.judge_or_503(settings.retry_after_s)
    return JudgeComparePublic(**caws.compare(judge, body.prompt, body.a, body.b))
