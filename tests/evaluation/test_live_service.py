"""End to end against the real `kimi-student serve`, and the local runner on the same checkpoint.

The worker is a seeded random model on the session's tiny tokenizer whose LM-head rows for the
tool-call tokens are zero, so greedy decoding never opens a call and the service's call grammar
never engages (a trained model's valid calls are equal under it; an untrained one's are not). What
remains must be identical: chat rendering, tokenization, greedy decoding over speculation, stop
handling and the whole multi-turn harness.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

from evaluation.harness import EvalConfig, run
from evaluation.runners.base import Decoding
from evaluation.runners.local import LocalRunner
from evaluation.runners.openai_http import OpenAIHTTPRunner
from modeling.chat import SPECIAL_TOKENS, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END
from modeling.checkpoint import save_artifact
from modeling.config import parse_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from tests.evaluation.conftest import write_subset
from training.data.tools import default_registry

CONFIG = {"role": "worker",
          "model": {"vocab_size": 512, "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_head": 16,
                    "intermediate_size": 128, "max_seq_len": 1024},
          "training": {"lr": 1e-3, "warmup_steps": 1, "max_steps": 10, "batch_size": 2,
                       "seq_len": [{"until_step": 10, "seq_len": 64}], "eval_every": 5}}


@pytest.fixture(scope="module")
def artifacts(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval_artifacts")
    config = parse_role_config(CONFIG)
    torch.manual_seed(3)
    model = Transformer(config.model).eval()
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    assert tok.tk.token_to_id(TOOL_CALL) == SPECIAL_TOKENS.index(TOOL_CALL)
    with torch.no_grad():
        model.lm_head.weight.mul_(12.0)
        caller = model.lm_head.weight.clone()
        for t in (TOOL_CALL, TOOL_ARGS, TOOL_CALL_END):
            model.lm_head.weight[SPECIAL_TOKENS.index(t)] = 0.0
    save_artifact(root / "worker", model, config, tokenizer_dir=dataset_dir / "tokenizer")
    # "teacher": the same weights but a head that starts tool calls, so both runners decode the
    # grammar-constrained tool names and arguments (the random weights alone would write neither)
    with torch.no_grad():
        caller[SPECIAL_TOKENS.index(TOOL_CALL)] = 0.0
        model.lm_head.weight.copy_(caller)
        model.lm_head.weight[SPECIAL_TOKENS.index(TOOL_CALL)] += 50.0 * model.model.norm.weight
    save_artifact(root / "teacher", model, parse_role_config({**CONFIG, "role": "teacher"}),
                  tokenizer_dir=dataset_dir / "tokenizer")
    return root


@pytest.fixture(scope="module")
def service(artifacts: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "kimi_student.cli", "serve", "--artifacts", str(artifacts), "--port", str(port),
           "--models", "worker,teacher", "--log-level", "warning", "--auth", "off"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, "kimi-student serve exited"
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the service did not become ready")
        yield f"{url}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("role", ["worker", "teacher"])
def test_service_and_local_runner_agree(tmp_path: Path, service: str, artifacts: Path, raw_rows,
                                        dataset_dir: Path, role: str) -> None:
    """Identical results at temperature 0; the teacher model calls tools, so it also checks that both
    runners constrain a started call the same way."""
    header, rows = raw_rows
    picked = [r for r in rows if r["metadata"]["kind"] == "normal"][:3]
    picked += [next(r for r in rows if r["metadata"]["expected_behaviour"] == "decline")]
    data = write_subset(tmp_path / "few.jsonl", header, picked)
    decoding = Decoding(temperature=0.0, seed=1, max_tokens=24)

    def cfg(name: str) -> EvalConfig:
        return EvalConfig(input=data, out=tmp_path / f"{name}.jsonl", report=tmp_path / f"{name}.json",
                          fixtures=dataset_dir / "fixtures", html=tmp_path / f"{name}.html", decoding=decoding,
                          concurrency=2)

    http = OpenAIHTTPRunner(service, role, retries=1)
    report = run(cfg("http"), http, default_registry())
    http.close()
    run(cfg("local"), LocalRunner(artifacts / role), default_registry())
    assert report["summary"]["item_errors"] == 0 and report["summary"]["total"] == 4
    assert report["speed"]["ttft_s_p50"] is not None and report["speed"]["completion_tokens"] > 0
    assert (tmp_path / "http.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    items = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    assert all(bool(item["calls"]) == (role == "teacher") for item in items)
