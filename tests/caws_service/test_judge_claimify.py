"""Judge score/compare with the tiny Judge artifact, 503 without one; claimify through the API."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from arbiter.claims.entailment import LexicalJudge
from arbiter.claims.pipeline import fingerprint
from arbiter.judge import CLAUSES
from arbiter.loaders import read_policy
from modeling.judge import JudgeEntailment, JudgeModel
from service.api.app import create_app
from tests.caws_service.conftest import make_key, plea_body, plea_text, settings_for


def test_score_and_compare(client, headers) -> None:
    r = client.post("/caws/judge/score", json={"prompt": "spec FEAT-1", "candidate": plea_text(3)}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0 <= body["score"] <= 1 and set(body["clauses"]) == set(CLAUSES)
    assert all(0 <= p <= 1 for p in body["clauses"].values())
    same = client.post("/caws/judge/compare", json={"prompt": "p", "a": plea_text(1), "b": plea_text(1)},
                       headers=headers).json()
    assert same["verdict"] == "TIE" and same["a"] == same["b"]
    other = client.post("/caws/judge/compare", json={"prompt": "p", "a": plea_text(1), "b": plea_text(40)},
                        headers=headers).json()
    assert other["verdict"] == ("A" if other["a"]["score"] > other["b"]["score"] else "B")


def test_judge_request_needs_its_fields(client, headers) -> None:
    r = client.post("/caws/judge/score", json={"prompt": "p"}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "candidate"


@pytest.fixture(scope="module")
def judgeless(backend, tmp_path_factory) -> TestClient:
    empty = tmp_path_factory.mktemp("no-artifacts")
    with TestClient(create_app(settings_for(backend, tmp_path_factory.mktemp("d"), empty))) as c:
        yield c


def test_no_judge_is_503_and_adjudication_still_works(judgeless) -> None:
    headers = make_key(judgeless)
    r = judgeless.post("/caws/judge/score", json={"prompt": "p", "candidate": "c"}, headers=headers)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "judge_unavailable"
    assert judgeless.post("/caws/judge/compare", json={"prompt": "p", "a": "a", "b": "b"},
                          headers=headers).status_code == 503
    record = judgeless.post("/caws/adjudicate", json=plea_body(), headers=headers).json()
    assert record["status"] == "PASS" and record["models"]["judge"] is None


def test_claimify_extracts_and_verifies(client, headers) -> None:
    manifest = plea_body()["evidence_manifest"]
    text = "This change adds a limiter. All 24 auth tests passed. It is the best limiter ever written."
    r = client.post("/caws/claimify", json={"text": text, "evidence_manifest": manifest}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["sentences"]) == 3 and body["claims"]
    assert all("verification" in c for c in body["claims"])


def test_claimify_triages_with_the_judges_head_only_where_it_beat_the_rules(backend, tmp_path_factory,
                                                                             judge_artifacts) -> None:
    """A judge whose entailment head scored at least the lexical rules on its test triples triages
    claimify's evidence (the configuration fingerprint names the artifact); one that scored lower,
    or has no such record, leaves the lexical rules in charge."""
    body = {"text": "All 24 auth tests passed.", "evidence_manifest": plea_body()["evidence_manifest"]}
    policy = read_policy().value.claims
    for head, expect_judge in ((0.91, True), (0.60, False), (None, False)):
        root = tmp_path_factory.mktemp("artifacts")
        shutil.copytree(judge_artifacts / "judge", root / "judge")
        if head is not None:
            manifest = json.loads((root / "judge" / "manifest.json").read_text())
            manifest["metrics"] = {"entailment": {"test": {"accuracy": head},
                                                  "test_lexical_baseline": {"accuracy": 0.88}}}
            (root / "judge" / "manifest.json").write_text(json.dumps(manifest))
        with TestClient(create_app(settings_for(backend, tmp_path_factory.mktemp("d"), root))) as c:
            served = c.post("/caws/claimify", json=body, headers=make_key(c)).json()
        judge = JudgeEntailment(JudgeModel.load(root / "judge")) if expect_judge else LexicalJudge()
        assert served["config_fingerprint"] == fingerprint(policy, judge), head
        assert served["claims"] and all("verification" in claim for claim in served["claims"])


def test_claimify_bad_input_is_400(client, headers) -> None:
    r = client.post("/caws/claimify", json={"text": "x", "evidence_manifest": {"manifest_id": 3}}, headers=headers)
    assert r.status_code == 400 and "$.evidence_manifest" in r.json()["error"]["message"]
    assert client.post("/caws/claimify", json={"txt": "x"}, headers=headers).status_code == 400
