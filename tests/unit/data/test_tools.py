"""The tool registry: schemas, validation, normalization and its fingerprint."""

import json
import shutil
from pathlib import Path

import pytest

from training.data.tools import DEFAULT_REGISTRY_DIR, ToolRegistry, default_registry

EXPECTED = {"web.search", "web.open", "read_file", "repo.read", "file.write", "code.execute"}


def test_registry_has_the_six_tools_in_openai_format():
    reg = default_registry()
    assert set(reg.tools) == EXPECTED
    for tool in reg.openai_tools():
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"


@pytest.mark.parametrize(
    ("name", "args", "fragment"),
    [
        ("web.search", {"q": "x", "top_k": 11}, "top_k"),
        ("web.search", {"q": "x", "recency": 366}, "recency"),
        ("web.search", {"q": "x", "site": "evil.com"}, "site"),
        ("web.search", {"top_k": 3}, "'q' is a required property"),
        ("code.execute", {"language": "python", "code": "1", "timeout_ms": 99}, "timeout_ms"),
        ("code.execute", {"language": "cobol", "code": "1"}, "language"),
        ("read_file", {"path": "a.py", "encoding": "utf-16"}, "encoding"),
        ("repo.read", {"path": "a.py", "lines": [1]}, "lines"),
        ("web.open", {"url": "https://attacker.io/x"}, "url"),
        ("file.write", {"path": "a.md", "content": "x", "mode": "w"}, "Additional properties"),
    ],
)
def test_validation_names_the_offending_field(name, args, fragment):
    errors = default_registry().validate(name, args)
    assert errors and any(fragment in e for e in errors)


def test_valid_arguments_pass_and_unknown_tools_fail():
    reg = default_registry()
    assert reg.validate("repo.read", {"path": "src/a.py", "grep": {"pattern": "def", "ignore_case": True}}) == []
    assert reg.validate("shell.exec", {}) == ["unknown tool 'shell.exec'"]
    assert reg.validate("web.search", "not an object")[0].startswith("arguments must be an object")


def test_normalization_fills_defaults_and_folds_queries():
    reg = default_registry()
    a = reg.fixture_key("web.search", {"q": "  Retry   Budgets "})
    b = reg.fixture_key("web_search", {"top_k": 3, "q": "retry budgets", "site": None})
    assert a == b == json.dumps({"q": "retry budgets", "top_k": 3}, separators=(",", ":"))
    assert reg.fixture_key("web.search", {"q": "x", "top_k": 4}) != a
    assert reg.normalize("read_file", {"path": "a.py"}) == ("read_file", {"path": "a.py", "encoding": "utf-8"})


def test_fingerprint_is_stable_and_tracks_schema_changes(tmp_path: Path):
    copy = tmp_path / "tools"
    shutil.copytree(DEFAULT_REGISTRY_DIR, copy)
    assert ToolRegistry.load(copy).sha256 == default_registry().sha256
    spec = json.loads((copy / "web.search.json").read_text())
    spec["parameters"]["properties"]["top_k"]["maximum"] = 20
    (copy / "web.search.json").write_text(json.dumps(spec))
    assert ToolRegistry.load(copy).sha256 != default_registry().sha256
