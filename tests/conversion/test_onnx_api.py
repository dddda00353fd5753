"""The OpenAI conformance tests of tests/service/test_api.py, served by the onnxruntime backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conversion.test_onnx_backend import onnx_artifacts  # noqa: F401  (session fixture)
from tests.service.conftest import serve
from tests.service.test_api import *  # noqa: F403  (the same tests, collected here with these fixtures)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(onnx_artifacts: Path):  # noqa: F811
    """The tiny worker + drafter behind the real app with --backend onnx (speculative with the drafter)."""
    threads = torch.get_num_threads()
    with serve(onnx_artifacts, backend="onnx") as live:
        yield live
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(server):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", _strict_response_validation=True,
                         max_retries=0, timeout=60)
