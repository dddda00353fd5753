"""The ASGI app factory: settings -> metrics, models, serving object on app.state; routes; limits."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.caws.routes import router as caws_router
from service.api.errors import ApiError, install_error_handlers
from service.api.routes import router
from service.api.serving import OpenAIServing
from service.caws.setup import build_caws, close_caws, load_caws_judge
from service.metrics import Metrics
from service.models import ModelSet
from service.settings import Settings

log = logging.getLogger(__name__)


class BodyLimit:
    """413 for request bodies over `limit` bytes, by Content-Length or while reading a chunked body."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = ApiError(413, f"request body exceeds {self.limit} bytes", code="body_too_large")
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await too_large.response()(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI re-raises an HTTPException from reading the body
                raise HTTPException(413, too_large.message)
            return message

        await self.app(scope, limited, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    metrics = Metrics()
    models = ModelSet(settings, metrics)
    models.check()  # refuse to start on a broken setup, before the socket opens
    caws = build_caws(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        models.load(background=settings.load_in_background)
        load_caws_judge(caws, settings)
        yield
        models.shutdown()
        close_caws(caws)

    app = FastAPI(title="kimi-student", version="0.1.0", lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.models = settings, metrics, models
    app.state.serving = OpenAIServing(models, settings, metrics)
    app.state.caws = caws
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(caws_router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` with several workers: settings from KS_* variables."""
    return create_app(Settings())
