"""A live service for the Swift bridge's contract tests: the real app on a loopback port, with a tiny worker
and a tiny Judge on one tokenizer, auth on, and one API key holding every CAWS scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.service.conftest import LiveServer, tiny_config

REPO = Path(__file__).resolve().parents[2]
SCOPES = ["chat", "adjudicate", "waivers:write", "waivers:approve"]


@dataclass(frozen=True)
class Live:
    url: str
    key: str


def corpus() -> list[str]:
    """Tokenizer texts: the CAWS example pleas and the docs, so judge prompts and chat turns tokenize well."""
    examples = sorted((REPO / "configs" / "caws" / "examples").rglob("*"))
    texts = [p.read_text(encoding="utf-8") for p in examples if p.is_file()]
    texts += [p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").glob("*.md"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((REPO / "arbiter").rglob("*.py"))]
    return texts


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """artifacts/{worker,judge}: a random tiny worker (peaked head) and a random tiny Judge, seeded."""
    from modeling.checkpoint import save_artifact
    from modeling.config import load_role_config
    from modeling.model import Transformer
    from modeling.tokenizer import save_tokenizer, train_tokenizer

    root = tmp_path_factory.mktemp("swift-bridge")
    save_tokenizer(train_tokenizer(corpus(), 512), root / "tokenizer")
    torch.manual_seed(0)
    worker_cfg = tiny_config("worker")
    worker = Transformer(worker_cfg.model).eval()
    with torch.no_grad():
        worker.lm_head.weight.mul_(12.0)
    judge_cfg = load_role_config("judge_tiny")
    judge = Transformer(judge_cfg.model).eval()
    save_artifact(root / "artifacts" / "worker", worker, worker_cfg, tokenizer_dir=root / "tokenizer")
    save_artifact(root / "artifacts" / "judge", judge, judge_cfg, tokenizer_dir=root / "tokenizer")
    return root / "artifacts"


@pytest.fixture(scope="module")
def live(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The service as the Swift client sees it: HTTP on 127.0.0.1, Bearer key, worker and Judge loaded."""
    from service.api.app import create_app
    from service.settings import Settings
    from service.store.keys import create_key

    threads = torch.get_num_threads()
    settings = Settings(artifacts=artifacts, models=["worker"], speculative="off", torch_threads=1,
                        data_dir=tmp_path_factory.mktemp("data"), load_in_background=False)
    app = create_app(settings)
    with LiveServer(app) as server:
        with app.state.caws.store.sessions() as session:
            key = create_key(session, name="swift-app", scopes=SCOPES, rate_limit_per_min=None)
        yield Live(server.url, key)
    torch.set_num_threads(threads)
