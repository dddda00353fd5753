"""`kimi-student serve`: the OpenAI-compatible generation service (see CONTRACTS.md section 1)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the models over an OpenAI-compatible HTTP API",
                       description="Serve artifacts/<role>/ models on /v1/chat/completions, /v1/completions, "
                                   "/v1/models, /health, /ready, /metrics. Every flag also reads KS_<NAME>.")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--artifacts", type=Path, help="directory holding worker/, drafter/, judge/, teacher/")
    p.add_argument("--models", help="comma-separated roles to serve when present (default all four)")
    p.add_argument("--backend", help="model backend: auto (default: onnx for a role with a current `kimi-student "
                                      "export onnx`, else torch), torch, onnx (onnxruntime over `kimi-student export "
                                      "onnx` graphs) or coreml (macOS 15+, worker and drafter only: `kimi-student "
                                      "export coreml` packages; a row holds S-7 tokens of the largest step_<S>), for "
                                      "every role or per role: torch,drafter=onnx")
    p.add_argument("--onnx-dir", type=Path, help="ONNX exports, one directory per role (default <artifacts>/onnx)")
    p.add_argument("--coreml-dir", type=Path,
                   help="Core ML exports, one directory per role (default <artifacts>/coreml)")
    p.add_argument("--speculative", choices=["draft", "ngram", "off"],
                   help="speculative decoding of the worker: with the drafter (default), n-gram lookup, or off")
    p.add_argument("--num-speculative-tokens", type=int,
                   help="draft length gamma (default: every guess of a parallel drafter, else 4; adaptive)")
    p.add_argument("--max-num-seqs", type=int, help="sequences decoded together per model (default 8)")
    p.add_argument("--max-queue", type=int, help="waiting requests before 503 (default 32)")
    p.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    p.add_argument("--torch-threads", type=int, help="torch intra-op threads (default 1: fastest for toy models)")
    p.add_argument("--workers", type=int, help="server processes (each loads the models)")
    p.add_argument("--log-level", help="uvicorn log level (default info)")
    p.add_argument("--auth", choices=["on", "off"], help="API keys on the CAWS endpoints (default on; off only on "
                                                          "a loopback bind)")
    p.add_argument("--data-dir", type=Path, help="directory of the embedded SQLite database (default data/)")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from kimi_student.cli import CommandError
    from service.api.app import create_app
    from service.models import SetupError
    from service.settings import Settings

    fields = ("host", "port", "artifacts", "models", "backend", "onnx_dir", "coreml_dir", "speculative",
              "num_speculative_tokens", "max_num_seqs", "max_queue", "max_model_len", "torch_threads", "workers",
              "log_level", "auth", "data_dir")
    overrides = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise CommandError(str(exc)) from None
    if settings.workers > 1:  # each worker process builds its app from the environment
        for name, value in settings.model_dump(exclude_none=True).items():
            os.environ[f"KS_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
        uvicorn.run("service.api.app:create_app_from_env", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level)
        return 0
    # the service's own log lines (which backend serves each role, fallbacks) next to uvicorn's
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.DEBUG),
                        format="%(levelname)s:     %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except SetupError as exc:
        raise CommandError(str(exc)) from None
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0
