"""Benchmark: export times (ONNX and Core ML) and onnxruntime vs torch decode speed for the toy models.

Uses trained artifacts under --artifacts when they exist (`kimi-student bootstrap`), otherwise random
toy-config models (worker_toy, drafter_toy, judge_toy) built in a temporary directory; the output says
which. Decode: one stream, temperature 0, a 100-token prompt, 128 new tokens, one intra-op thread,
plain and speculative (with the drafter). Random weights make speculation's acceptance meaningless: only
trained artifacts give a speculative speed-up worth recording.

    .venv/bin/python bench/bench_conversion.py [--artifacts artifacts] [--skip-coreml]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from conversion.onnx_export import export_onnx
from modeling.checkpoint import load_artifact, save_artifact
from modeling.config import load_role_config
from modeling.model import Transformer
from service.engine.backend import TorchBackend
from service.engine.core import Engine, Request
from service.engine.onnx_backend import OnnxBackend
from service.engine.params import GenerationParams, SamplingParams
from service.models import read_manifest

ROLES = ("worker", "drafter", "judge")


def random_toy_artifacts(root: Path) -> None:
    torch.manual_seed(0)
    for role in ROLES:
        cfg = load_role_config(f"{role}_toy")
        save_artifact(root / role, Transformer(cfg.model), cfg)


def time_exports(root: Path, coreml: bool) -> dict[str, float]:
    times: dict[str, float] = {}
    for role in ROLES:
        start = time.perf_counter()
        contract = export_onnx(root / role, root / "onnx" / role)
        times[f"onnx_{role}_s"] = round(time.perf_counter() - start, 1)
        times[f"onnx_{role}_max_abs_logit_error"] = contract["parity"]["max_abs_logit_error"]
    if coreml:
        from conversion.coreml_export import export_coreml

        for role in ROLES:
            start = time.perf_counter()
            export_coreml(root / role, root / "coreml" / role)
            times[f"coreml_{role}_s"] = round(time.perf_counter() - start, 1)
    times["total_s"] = round(sum(v for k, v in times.items() if k.endswith("_s")), 1)
    return times


def decode_tok_s(worker, drafter, speculative: str, prompt: list[int], tokens: int = 128) -> float:
    engine = Engine(worker, end_id=-1, max_num_seqs=1, speculative=speculative,
                    drafter=drafter if speculative == "draft" else None, adaptive_gamma=False)
    params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=tokens, ignore_eos=True))
    best = float("inf")
    for i in range(3):  # best of three: the machine is shared
        outs: list = []
        engine.add_request(Request(str(i), prompt, params, outs.append))
        start = time.perf_counter()
        engine.run_until_idle()
        best = min(best, time.perf_counter() - start)
    return round(tokens / best, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--skip-coreml", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        trained = all((args.artifacts / r / "manifest.json").is_file() for r in ROLES)
        if trained:
            for role in ROLES:
                (root / role).symlink_to((args.artifacts / role).resolve())
        else:
            random_toy_artifacts(root)
        report: dict = {"weights": "trained" if trained else "random toy configs", "machine": platform.machine(),
                        "cpus": torch.get_num_threads(), "exports": time_exports(root, not args.skip_coreml)}
        prompt = torch.randint(11, 2048, (100,), generator=torch.Generator().manual_seed(0)).tolist()
        generators = ("worker", "drafter")
        pairs = {
            "torch": tuple(TorchBackend(load_artifact(root / r, role=r)[0]) for r in generators),
            "onnx": tuple(OnnxBackend.from_export(root / "onnx" / r, read_manifest(root / r)) for r in generators),
        }
        report["decode_tok_s"] = {
            f"{name}_{mode}": decode_tok_s(*pair, mode, prompt)
            for name, pair in pairs.items()
            for mode in ("off", "draft")
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
