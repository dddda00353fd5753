"""Build the CAWS serving object from the settings: policy, store (migrated when embedded), cache, Judge."""

from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from arbiter.loaders import read_policy
from arbiter.result import Err
from service.cache import make_cache
from service.caws.batching import BatchingJudge
from service.caws.judge import load_judge
from service.caws.service import CawsService
from service.metrics import Metrics
from service.models import SetupError, require_export
from service.settings import Settings
from service.store import SchemaNotReady, Store


def build_caws(settings: Settings, metrics: Metrics) -> CawsService:
    """Fail fast on a broken policy, a missing or stale judge export (`judge=onnx`), or an unreachable or
    unmigrated database; the Judge loads later."""
    policy = read_policy(settings.caws_policy)
    if isinstance(policy, Err):
        raise SetupError("CAWS policy: " + "; ".join(map(str, policy.errors)))
    _check_judge_export(settings)  # before the database opens: nothing to close on refusal
    url = settings.sqlalchemy_url
    try:
        store = Store.open(url, migrate=url.startswith("sqlite"))
    except SchemaNotReady as exc:
        raise SetupError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise SetupError(f"cannot open the database: {exc.__class__.__name__}: {exc}") from None
    verdicts = Counter("caws_verdicts", "Verdicts persisted, by status", ["status"], registry=metrics.registry)
    return CawsService(store, make_cache(settings.redis_url, settings.redis_prefix), policy.value, None,
                       settings.idempotency_ttl_s, on_verdict=lambda status: verdicts.labels(status).inc())


def _check_judge_export(settings: Settings) -> None:
    """`--backend judge=onnx`: the judge's ONNX export must exist and be of the artifact's weights."""
    if settings.backend_for("judge") == "onnx" and (settings.artifacts / "judge" / "manifest.json").is_file():
        require_export(settings, "judge")


def load_caws_judge(caws: CawsService, settings: Settings) -> None:
    onnx_dir = settings.export_dir("judge", "onnx") if settings.backend_for("judge") == "onnx" else None
    judge = load_judge(settings.artifacts, onnx_dir, settings.torch_threads)
    caws.judge = BatchingJudge(judge) if judge is not None else None  # concurrent requests share forwards


def close_caws(caws: CawsService) -> None:
    if isinstance(caws.judge, BatchingJudge):
        caws.judge.close()
    caws.cache.close()
    caws.store.close()
