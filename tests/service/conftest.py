"""Tiny artifacts for the service tests: a random worker and a drafter close to it, on the tiny tokenizer.

The weights are random (seeded); the LM head is scaled up so next-token distributions are peaked
rather than uniform, and the drafter is the worker plus a little noise, so speculative bursts get
accepted often enough to exercise every path.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from modeling.checkpoint import save_artifact
from modeling.config import parse_role_config
from modeling.model import Transformer

MAX_SEQ_LEN = 1024
TRAINING = {"lr": 1e-3, "warmup_steps": 1, "max_steps": 10, "batch_size": 2,
            "seq_len": [{"until_step": 10, "seq_len": 64}], "eval_every": 5}


def tiny_config(role: str, vocab_size: int = 512, **overrides):
    model = {"vocab_size": vocab_size, "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_head": 16,
             "intermediate_size": 128, "max_seq_len": MAX_SEQ_LEN, **overrides}
    return parse_role_config({"role": role, "model": model, "training": TRAINING})


def tiny_pair(vocab_size: int = 512, seed: int = 0, noise: float = 0.02, head_scale: float = 12.0):
    """(worker, drafter) Transformers: random worker, drafter = worker + Gaussian noise."""
    torch.manual_seed(seed)
    wcfg, dcfg = tiny_config("worker", vocab_size), tiny_config("drafter", vocab_size)
    worker = Transformer(wcfg.model).eval()
    with torch.no_grad():
        worker.lm_head.weight.mul_(head_scale)
    drafter = Transformer(dcfg.model).eval()
    drafter.load_state_dict(copy.deepcopy(worker.state_dict()))
    with torch.no_grad():
        for p in drafter.parameters():
            p.add_(noise * torch.randn_like(p) * p.std())
    return (worker, wcfg), (drafter, dcfg)


@pytest.fixture(scope="module", autouse=True)
def restore_torch_threads():
    """create_app applies KS_TORCH_THREADS process-wide; give the next test module what it had."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_artifacts(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """artifacts/{worker,drafter}/ built from the tiny tokenizer (vocabulary 512)."""
    root = tmp_path_factory.mktemp("artifacts")
    (worker, wcfg), (drafter, dcfg) = tiny_pair()
    save_artifact(root / "worker", worker, wcfg, tokenizer_dir=dataset_dir / "tokenizer")
    save_artifact(root / "drafter", drafter, dcfg, tokenizer_dir=dataset_dir / "tokenizer")
    return root


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        import time

        import httpx

        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(artifacts: Path, **settings) -> LiveServer:
    from service.api.app import create_app
    from service.settings import Settings

    settings.setdefault("auth", "off")  # loopback: no keys (tests/service/test_auth.py checks the /v1 scopes)
    return LiveServer(create_app(Settings(artifacts=artifacts, torch_threads=1, **settings)))


@pytest.fixture(scope="module")
def server(tiny_artifacts: Path):
    """The tiny worker + drafter behind the real app (speculative decoding with the drafter)."""
    threads = torch.get_num_threads()
    with serve(tiny_artifacts) as live:
        yield live
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(server: LiveServer):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", _strict_response_validation=True,
                         max_retries=0, timeout=60)
