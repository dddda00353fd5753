"""Typed dependencies: handlers get what app.state holds, so tests can override them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.api.serving import OpenAIServing
from service.caws.service import CawsService
from service.metrics import Metrics
from service.models import ModelSet
from service.settings import Settings


def get_serving(request: Request) -> OpenAIServing:
    return request.app.state.serving


def get_models(request: Request) -> ModelSet:
    return request.app.state.models


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_caws(request: Request) -> CawsService:
    return request.app.state.caws


ServingDep = Annotated[OpenAIServing, Depends(get_serving)]
ModelsDep = Annotated[ModelSet, Depends(get_models)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CawsDep = Annotated[CawsService, Depends(get_caws)]
