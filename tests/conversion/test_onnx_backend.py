"""The service's onnxruntime backend: identical greedy tokens to the torch backend, refusals of stale exports."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conversion.onnx_export import export_onnx
from modeling.checkpoint import load_artifact
from service.engine.backend import TorchBackend
from service.engine.core import Engine, Request
from service.engine.onnx_backend import OnnxBackend
from service.engine.params import GenerationParams, SamplingParams, StepOutput
from service.models import ModelSet, SetupError, read_manifest
from service.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
END = 2


@pytest.fixture(scope="session")
def onnx_artifacts(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """worker/ and drafter/ artifacts with their ONNX exports under onnx/ (where the service looks)."""
    root = tmp_path_factory.mktemp("onnx-serving")
    for role in ("worker", "drafter"):
        shutil.copytree(artifacts / role, root / role)
        export_onnx(root / role, root / "onnx" / role, check_parity=False)
    return root


def prompts(count: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(5)
    lengths = torch.randint(3, 60, (count,), generator=g).tolist()
    return [torch.randint(11, 512, (n,), generator=g).tolist() for n in lengths]


def greedy(worker, drafter, speculative: str, prompt_list: list[list[int]], accepted: list[int] | None = None
           ) -> dict[int, list[int]]:
    """Greedy tokens per prompt; `accepted` collects each choice's accepted drafts (speculative "parallel":
    the drafter used as a parallel drafter guessing three tokens past the next one)."""
    parallel = 3 if speculative == "parallel" else 0
    speculative = "draft" if parallel else speculative
    engine = Engine(worker, end_id=END, max_num_seqs=8, max_queue=64, speculative=speculative,
                    drafter=drafter if speculative == "draft" else None, num_speculative_tokens=4,
                    parallel_draft=parallel)
    outs: dict[int, list[StepOutput]] = {i: [] for i in range(len(prompt_list))}
    for i, p in enumerate(prompt_list):
        params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=40, ignore_eos=True, seed=i))
        engine.add_request(Request(str(i), p, params, outs[i].append))
    engine.run_until_idle()
    if accepted is not None:
        accepted += [sum(o.accepted for o in v) for v in outs.values()]
    return {i: [t for o in v for t in o.tokens] for i, v in outs.items()}


def backends(root: Path, kind: str):
    if kind == "torch":
        return tuple(TorchBackend(load_artifact(root / r, role=r)[0]) for r in ("worker", "drafter"))
    return tuple(OnnxBackend.from_export(root / "onnx" / r, read_manifest(root / r)) for r in ("worker", "drafter"))


@pytest.mark.parametrize("speculative", ["off", "draft", "parallel"])
def test_onnx_greedy_equals_torch_on_20_prompts(onnx_artifacts: Path, speculative: str) -> None:
    """Continuous batching of 20 prompts (8 rows), plain and with the drafter: the same 40 tokens each, and
    the same drafts accepted (the drafter's calls agree too, not only the worker's)."""
    ps = prompts(20)
    accepted: tuple[list[int], list[int]] = ([], [])
    expected = greedy(*backends(onnx_artifacts, "torch"), speculative, ps, accepted[0])
    actual = greedy(*backends(onnx_artifacts, "onnx"), speculative, ps, accepted[1])
    assert actual == expected
    assert accepted[0] == accepted[1]
    assert all(len(v) == 40 for v in actual.values())


def test_a_torch_worker_speculates_with_an_onnx_drafter(onnx_artifacts: Path) -> None:
    """Per-role backends (`--backend torch,drafter=onnx`): the same tokens as torch for both."""
    ps = prompts(12)
    torch_worker, torch_drafter = backends(onnx_artifacts, "torch")
    _, onnx_drafter = backends(onnx_artifacts, "onnx")
    assert greedy(torch_worker, onnx_drafter, "draft", ps) == greedy(torch_worker, torch_drafter, "draft", ps)


def test_the_service_builds_each_role_on_its_own_backend(onnx_artifacts: Path, tmp_path: Path) -> None:
    settings = Settings(artifacts=onnx_artifacts, backend="torch,drafter=onnx", models=["worker", "drafter"])
    models = ModelSet(settings, metrics=None)
    models.check()  # only the drafter's export is checked
    assert isinstance(models.backend("worker"), TorchBackend)
    assert isinstance(models.backend("drafter"), OnnxBackend)
    root = tmp_path / "artifacts"
    shutil.copytree(onnx_artifacts, root)
    shutil.rmtree(root / "onnx" / "worker")  # the worker stays on torch: no export needed
    ModelSet(Settings(artifacts=root, backend="torch,drafter=onnx", models=["worker"]), metrics=None).check()
    with pytest.raises(SetupError, match="no ONNX export"):
        ModelSet(Settings(artifacts=root, backend="worker=onnx", models=["worker"]), metrics=None).check()


def test_auto_serves_a_role_on_onnx_only_with_a_current_export(onnx_artifacts: Path, tmp_path: Path) -> None:
    """The default backend, `auto`: onnxruntime for a role whose ONNX export was made from its current
    weights, torch for one without an export or with a stale one (no error: it is a preference)."""
    root = tmp_path / "artifacts"
    shutil.copytree(onnx_artifacts, root)
    settings = Settings(artifacts=root, models=["worker", "drafter"])
    assert settings.backend == "auto"
    assert [settings.backend_for(r) for r in ("worker", "drafter", "judge")] == ["onnx", "onnx", "torch"]
    models = ModelSet(settings, metrics=None)
    models.check()
    assert isinstance(models.backend("worker"), OnnxBackend) and isinstance(models.backend("drafter"), OnnxBackend)
    shutil.rmtree(root / "onnx" / "worker")
    shutil.copytree(root / "onnx" / "drafter", root / "onnx" / "worker")  # exported from other weights
    (root / "onnx" / "drafter" / "contract.json").write_text("{not json")
    assert [settings.backend_for(r) for r in ("worker", "drafter")] == ["torch", "torch"]
    ModelSet(settings, metrics=None).check()
    assert isinstance(ModelSet(settings, metrics=None).backend("worker"), TorchBackend)
    assert Settings(artifacts=root, backend="torch").backend_for("worker") == "torch"  # explicit: no lookup
    shutil.rmtree(root / "onnx")
    assert Settings(artifacts=root, backend="drafter=torch").backend_for("worker") == "torch"


def test_serve_logs_the_backend_each_role_got(onnx_artifacts: Path, tmp_path: Path) -> None:
    """`kimi-student serve` with the default backend says which backend each role is served by."""
    root = tmp_path / "artifacts"
    shutil.copytree(onnx_artifacts, root)
    shutil.rmtree(root / "onnx" / "drafter")  # the drafter falls back to torch
    cmd = [sys.executable, "-m", "kimi_student", "serve", "--artifacts", str(root), "--port", "0", "--auth", "off"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while sum("loaded" in line for line in lines) < 2 and time.monotonic() < deadline:
            if not select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break  # nothing more within the deadline
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "".join(lines)
    assert "loaded worker (onnx backend)" in text and "loaded drafter (torch backend)" in text, text


def test_prefill_and_copy_row_match_torch(onnx_artifacts: Path) -> None:
    torch_worker, _ = backends(onnx_artifacts, "torch")
    onnx_worker, _ = backends(onnx_artifacts, "onnx")
    tokens = torch.tensor([prompts(1)[0]])
    for backend in (torch_worker, onnx_worker):
        backend.allocate(3, 256)
    expected, actual = torch_worker.prefill(tokens, 1), onnx_worker.prefill(tokens, 1)
    assert (actual - expected).abs().max().item() < 1e-3
    for backend in (torch_worker, onnx_worker):
        backend.copy_row(1, 2)
    step, pos = torch.tensor([[7]]), torch.tensor([[tokens.shape[1]]])
    diff = onnx_worker.forward(step, pos, row0=2) - torch_worker.forward(step, pos, row0=2)
    assert diff.abs().max().item() < 1e-3


def test_service_refuses_a_stale_or_missing_export(onnx_artifacts: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    shutil.copytree(onnx_artifacts, root)
    shutil.rmtree(root / "onnx" / "worker")
    shutil.copytree(root / "onnx" / "drafter", root / "onnx" / "worker")  # exported from other weights
    settings = Settings(artifacts=root, backend="onnx", models=["worker", "drafter"])
    with pytest.raises(SetupError, match="exported from weights"):
        ModelSet(settings, metrics=None).check()
    shutil.rmtree(root / "onnx" / "worker")
    with pytest.raises(SetupError, match=r"no ONNX export.*kimi-student export onnx"):
        ModelSet(settings, metrics=None).check()


def test_onnx_caches_grow_with_the_context_and_shrink_when_idle(onnx_artifacts: Path) -> None:
    """The host caches grow a block at a time as contexts lengthen (content kept); when the engine goes
    idle they shrink to the longest context of the busy period that ended. Every round gives the same
    tokens as torch, on grown, oversized (a short round after a long one) and shrunk caches."""
    torch_worker, _ = backends(onnx_artifacts, "torch")
    onnx_worker, _ = backends(onnx_artifacts, "onnx")
    ps = prompts(10)
    seen: list[int] = []

    def run(worker, max_tokens: int, record: bool = False) -> list[list[int]]:
        engine = Engine(worker, end_id=END, max_num_seqs=4, max_queue=16)
        params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True))
        outs: dict[int, list[int]] = {i: [] for i in range(len(ps))}
        for i, p in enumerate(ps):
            def sink(o: StepOutput, i: int = i) -> None:
                outs[i].extend(o.tokens)
                if record:
                    seen.append(onnx_worker.slots)
            engine.add_request(Request(str(i), p, params, sink))
        engine.run_until_idle()
        return list(outs.values())

    long, short = run(torch_worker, 150), run(torch_worker, 3)  # prompts of 3-59 tokens
    assert run(onnx_worker, 150, record=True) == long
    assert max(seen) >= 192 and min(seen) == 64  # grown past 128 positions; short contexts at first
    assert onnx_worker.slots == max(seen)  # the busy period needed all of them
    assert run(onnx_worker, 3) == short
    assert onnx_worker.slots == 64  # that period needed one block
    assert run(onnx_worker, 150) == long
