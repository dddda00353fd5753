"""SideJob: a bootstrap step in its own process beside the chain, with its share of the threads."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest
import torch

from training.bootstrap import BootstrapError, SideJob


def _write_threads(out: Path, delay: float = 0.0) -> None:
    time.sleep(delay)
    out.write_text(str(torch.get_num_threads()))


def _fail() -> None:
    raise RuntimeError("judge broke")


def test_it_runs_with_its_threads_and_gives_them_back_when_it_ends(tmp_path):
    out = tmp_path / "threads"
    job = SideJob(partial(_write_threads, out, 1.0), threads=1, total=3)
    assert job.chain_threads() == 2  # while it runs
    seconds = job.wait()
    assert out.read_text() == "1" and 1.0 <= seconds < 60
    assert job.chain_threads() == 3


def test_its_end_is_noted_when_the_chain_first_sees_it(tmp_path):
    job = SideJob(partial(_write_threads, tmp_path / "threads"), threads=1, total=2)
    job.process.join()
    assert job.chain_threads() == 2
    seen = time.perf_counter()
    time.sleep(0.5)
    assert job.ended <= seen and job.wait() == round(job.ended - job.started, 1)  # not stretched to wait()


def test_a_failure_is_a_bootstrap_error(tmp_path):
    job = SideJob(_fail, threads=1, total=2)
    with pytest.raises(BootstrapError, match="exit code 1"):
        job.wait()


def test_stop_ends_a_running_job(tmp_path):
    job = SideJob(partial(_write_threads, tmp_path / "never", 60.0), threads=1, total=2)
    job.stop()
    assert not job.process.is_alive() and not (tmp_path / "never").exists()
