"""Tool broker: canonical keys (aliases, key order, defaults, folded queries) hit; misses are structured."""

from __future__ import annotations

import json

import pytest

from evaluation.broker import ToolBroker
from training.data.fixtures import FixtureSet
from training.data.tools import default_registry

SEARCH = {"q": "Cache Eviction", "top_k": 3}
RESULT = {"ok": True, "count": 1, "results": [{"title": "Cache eviction", "url": "https://example.com/docs/cache"}]}


@pytest.fixture()
def broker(tmp_path) -> ToolBroker:
    registry = default_registry()
    fixtures = FixtureSet(registry)
    fixtures.add("web.search", SEARCH, RESULT)
    fixtures.add("read_file", {"path": "src/a.py"}, {"ok": False, "error": "not_found", "path": "src/a.py"})
    fixtures.merge_into(tmp_path / "fixtures")
    return ToolBroker.load(tmp_path / "fixtures", registry)


@pytest.mark.parametrize("name, arguments", [
    ("web.search", SEARCH),
    ("web_search", SEARCH),  # alias
    ("web.search", {"top_k": 3, "q": "Cache Eviction"}),  # key order
    ("web.search", {"q": "  cache   EVICTION "}),  # default top_k filled, query folded
    ("web.search", {"q": "cache eviction", "top_k": 3, "site": None}),  # None dropped
])
def test_normalized_arguments_hit(broker: ToolBroker, name: str, arguments: dict) -> None:
    """Every spelling of the same call finds the fixture, from raw JSON text as the model sends it."""
    answer = broker.call(name, json.dumps(arguments))
    assert answer.hit and answer.looked_up and answer.result == RESULT
    assert answer.name == "web.search" and answer.provenance == "fixture"


def test_failed_result_replays(broker: ToolBroker) -> None:
    answer = broker.call("read_file", '{"path":"src/a.py"}')
    assert answer.hit and answer.result["error"] == "not_found"


def test_miss_is_a_structured_result(broker: ToolBroker) -> None:
    answer = broker.call("web.search", '{"q": "cache eviction", "top_k": 4}')
    assert not answer.hit and answer.looked_up and answer.provenance == "broker"
    assert answer.result == {"ok": False, "error": "fixture_miss", "name": "web.search",
                             "arguments": {"q": "cache eviction", "top_k": 4},
                             "key_normalized": '{"q":"cache eviction","top_k":4}'}


@pytest.mark.parametrize("name, raw, error", [
    ("web.search", '{"q": "x"', "invalid_arguments"),
    ("web.search", '["q"]', "invalid_arguments"),
    ("shell.exec", '{"cmd": "ls"}', "unknown_tool"),
])
def test_bad_calls_are_answered_not_raised(broker: ToolBroker, name: str, raw: str, error: str) -> None:
    answer = broker.call(name, raw)
    assert answer.result["ok"] is False and answer.result["error"] == error
    assert not answer.hit and not answer.looked_up


def test_missing_directory_is_an_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        ToolBroker.load(tmp_path / "nope", default_registry())
