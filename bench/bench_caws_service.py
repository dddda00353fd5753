"""`POST /caws/adjudicate` latency through a live `kimi-student serve`: one candidate, a 300-line diff, toy Judge.

Usage: python bench/bench_caws_service.py [--requests 200] [--concurrency 1 8] [--workers 1]
       [--tokenizer artifacts/tokenizer] [--judge artifacts/judge] [--backend torch,judge=onnx]
       [--new-connections]
Copies `--judge` (a trained artifact) or builds a random-init `judge_toy` on the given tokenizer
(2,048 tokens) in a temporary directory, starts the server there (SQLite, or KS_DATABASE_URL /
KS_REDIS_URL when set), creates a key, and prints one JSON line per concurrency with p50/p95/mean in
milliseconds. The client keeps its connections open (one pooled client), as an application would, and
builds the request bodies before timing; `--new-connections` opens one connection per request.
`--backend torch,judge=onnx` exports the judge to ONNX in that directory and serves its heads from
onnxruntime (`kimi-student serve --backend judge=onnx`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch

from conversion.onnx_export import export_onnx
from modeling.checkpoint import save_artifact
from modeling.config import load_role_config
from modeling.model import Transformer
from service.settings import parse_backends

SPEC = {"id": "FEAT-42", "title": "Add rate limiting to the login endpoint", "risk_tier": 2, "mode": "feature",
        "change_budget": {"max_files": 3, "max_loc": 400}, "blast_radius": {"modules": ["src/auth"],
                                                                            "data_migration": False},
        "operational_rollback_slo": "15m", "scope": {"in": ["src/auth", "tests/auth"], "out": []},
        "invariants": ["Successful logins are never delayed"],
        "acceptance": [{"id": "A1", "given": "5 failed logins", "when": "a 6th arrives", "then": "HTTP 429"}],
        "non_functional": {}, "contracts": [{"type": "openapi", "path": "contracts/auth.yaml"}]}


def diff_300() -> str:
    """Two files, 300 changed lines in all."""
    parts = []
    for name, n in (("src/auth/limiter.py", 200), ("tests/auth/test_limiter.py", 100)):
        parts.append(f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n+++ b/{name}\n"
                     f"@@ -0,0 +1,{n} @@\n" + "".join(f"+line {i}\n" for i in range(n)))
    return "".join(parts)


def body(diff: str) -> dict:
    return {"change_id": f"BENCH-{uuid.uuid4().hex[:10]}", "working_spec": SPEC, "diff": diff,
            # A distinct rationale per request, so the Judge reads a new text every time.
            "rationale": f"Adds a per-account limiter ({uuid.uuid4().hex[:8]}) to src/auth so brute-force logins "
                         "get HTTP 429.",
            "evidence_manifest": {"manifest_id": "EV-1", "change_id": "BENCH", "evidence_items": [
                {"evidence_id": "E1", "type": "test_result", "content": "All 24 auth tests passed.",
                 "verification_status": "verified"}]},
            "gate_results": {"tests_pass": True, "lint_pass": True, "coverage_branch": 0.93, "mutation_score": 0.75,
                             "contracts": {"consumer": True, "provider": True}}}


def start(root: Path, port: int, workers: int, backend: str = "torch") -> subprocess.Popen:
    env = {**os.environ, "KS_MODELS": "", "KS_WORKERS": str(workers), "KS_ARTIFACTS": str(root / "artifacts"),
           "KS_BACKEND": backend,
           "KS_DATA_DIR": str(root / "data"),
           "KS_LOG_LEVEL": "warning", "KS_RATE_LIMIT_PER_MIN": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "kimi_student", "serve", "--port", str(port)], env=env)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def run(url: str, headers: dict, requests: int, concurrency: int, diff: str, keep_alive: bool = True) -> dict:
    """Latency of `requests` adjudications, `concurrency` at a time. Clients keep their connections
    (one pooled client, as an application would); `keep_alive=False` opens one per request."""
    pooled = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) if keep_alive else None
    payloads = [body(diff) for _ in range(requests + 2 * concurrency)]  # built before the clock starts

    def one(i: int) -> float:
        t0 = time.perf_counter()
        post = pooled.post if pooled is not None else httpx.post
        r = post(url + "/caws/adjudicate", json=payloads[i], headers=headers, timeout=60)
        r.raise_for_status()
        return (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests, requests + 2 * concurrency)))  # warm-up
        ms = sorted(pool.map(one, range(requests)))
    if pooled is not None:
        pooled.close()
    return {"concurrency": concurrency, "requests": requests, "p50_ms": round(ms[len(ms) // 2], 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "mean_ms": round(statistics.fmean(ms), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokenizer", type=Path, default=Path("artifacts/tokenizer"))
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn workers)")
    parser.add_argument("--judge", type=Path, help="a trained judge artifact (default: a random-init judge_toy)")
    parser.add_argument("--new-connections", action="store_true", help="one connection per request (no keep-alive)")
    parser.add_argument("--backend", default="torch", help="as `serve --backend`; judge=onnx exports the judge first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        if args.judge is not None:
            shutil.copytree(args.judge, root / "artifacts" / "judge")
        else:
            cfg = load_role_config("judge_toy")
            save_artifact(root / "artifacts" / "judge", Transformer(cfg.model).eval(), cfg,
                          tokenizer_dir=args.tokenizer)
        default, per_role = parse_backends(args.backend)
        if per_role.get("judge", default) == "onnx":
            export_onnx(root / "artifacts" / "judge", root / "artifacts" / "onnx" / "judge")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        key = subprocess.run([sys.executable, "-m", "kimi_student", "keys", "create", "--name", "bench", "--scopes",
                              "adjudicate", "--data-dir", str(root / "data")], capture_output=True, text=True,
                             check=True).stdout.strip()
        proc = start(root, port, args.workers, args.backend)
        try:
            for c in args.concurrency:
                result = run(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}, args.requests, c,
                             diff_300(), keep_alive=not args.new_connections)
                print(json.dumps({**result, "keep_alive": not args.new_connections, "backend": args.backend,
                                  "judge": "trained" if args.judge else "random"}), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
