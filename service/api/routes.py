"""Thin routes: validate, call the serving object, map its result to a response."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.api.auth import Chatter
from service.api.deps import MetricsDep, ModelsDep, ServingDep, SettingsDep
from service.api.protocol import ChatCompletionRequest, CompletionRequest, ErrorResponse, ModelCard, ModelList
from service.api.streaming import SSEResponse

ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 503)}
AUTH_ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 429)}

router = APIRouter()


def to_response(result: dict | AsyncIterator[str]) -> Response:
    if isinstance(result, dict):
        return JSONResponse(result)
    return SSEResponse(result)


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses=ERRORS)
async def ready(models: ModelsDep, settings: SettingsDep) -> Response:
    """Readiness: 200 once every configured model is loaded, else 503."""
    if models.ready:
        return JSONResponse({"status": "ready", "models": sorted(models.models)})
    body = {"status": "error" if models.error else "loading", "loaded": sorted(models.models),
            "models": models.roles, "error": models.error}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(settings.retry_after_s)})


@router.get("/metrics")
async def metrics(m: MetricsDep) -> Response:
    """Prometheus exposition of latency histograms, load gauges and speculative-decoding counters."""
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/models", responses=AUTH_ERRORS)
async def list_models(models: ModelsDep, _: Chatter) -> ModelList:
    """The served roles (worker, judge, drafter, teacher), loaded or loading."""
    cards = []
    for role in models.roles:
        served = models.models.get(role)
        cards.append(ModelCard(id=role, created=served.created if served else 0, role=role,
                               tokenizer_sha256=served.tokenizer.sha256 if served else None))
    return ModelList(data=cards)


@router.post("/v1/chat/completions", responses=ERRORS | AUTH_ERRORS)
async def create_chat_completion(body: ChatCompletionRequest, request: Request, serving: ServingDep,
                                 _: Chatter) -> Response:
    """OpenAI chat completions, streamed (SSE) or not."""
    return to_response(await serving.create_chat_completion(body, request))


@router.post("/v1/completions", responses=ERRORS | AUTH_ERRORS)
async def create_completion(body: CompletionRequest, request: Request, serving: ServingDep, _: Chatter) -> Response:
    """OpenAI text completions, streamed (SSE) or not."""
    return to_response(await serving.create_completion(body, request))
