"""The generator: stratification, quotas, controls, structures, hygiene, determinism."""

import json
from collections import Counter

import pytest

from modeling.chat import render_sample
from training.data import generate
from training.data.scenarios import CELL_COMPLEXITIES, SCENARIOS, STRUCTURES
from training.data.tools import default_registry

REQUIRED = {name: set(t.parameters.get("required", [])) for name, t in default_registry().tools.items()}


def test_plan_meets_quotas_and_covers_every_cell():
    plan = generate.build_plan(300, seed=1)
    kinds = Counter(s.kind for s in plan)
    assert kinds["control"] == 30 and kinds["long_context"] == 9 and kinds["adversarial"] == 9
    assert sum(s.lang != "en" for s in plan) == round(0.075 * 300)
    assert sum(s.locale_probe for s in plan) >= 2
    covered = {(s.scenario, s.complexity, s.structure) for s in plan if s.kind == "normal"}
    assert covered == {(s, c, st) for s in SCENARIOS for c in CELL_COMPLEXITIES[s] for st in STRUCTURES}
    assert {s.subkind for s in plan if s.kind == "adversarial"} == {"range_violation", "malformed_json", "ambiguity"}
    assert {s.subkind for s in plan if s.kind == "control"} == {"no_tool", "decline", "retry"}


def test_an_empty_total_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        generate.quotas(0)


def test_generation_is_deterministic_and_seed_dependent():
    a = list(generate.generate(40, seed=3))
    assert a == list(generate.generate(40, seed=3))
    assert [r["teacher_text"] for r in a] != [r["teacher_text"] for r in generate.generate(40, seed=4)]


def test_samples_are_well_formed(raw_rows):
    header, rows = raw_rows
    assert header["__header__"] and header["tool_registry_sha256"] == default_registry().sha256
    for r in rows:
        assert render_sample(r["messages"], header["tools"]) == (r["prompt_text"], r["teacher_text"])
        caws = json.loads(r["messages"][0]["content"].split("\n")[0])["caws"]
        assert {"tier", "max_files", "max_loc", "cov", "mut", "in", "out"} <= set(caws)
        ids = [c["id"] for m in r["messages"] for c in m.get("tool_calls") or ()]
        assert [m["tool_call_id"] for m in r["messages"] if m["role"] == "tool"] == ids


def _primary(row):
    calls = row["metadata"]["call_sequence"]
    return calls[-1] if row["metadata"]["complexity"] == "branching_error_recovery" else calls[0]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_structures_really_change_the_arguments(raw_rows, structure):
    rows = [r for r in raw_rows[1] if r["metadata"]["structure"] == structure
            and r["metadata"]["scenario"] in ("web_search", "file_ops", "code_exec")
            and r["metadata"]["complexity"] == "single_call"]
    assert rows
    for r in rows:
        call = _primary(r)
        args, optional = call["arguments"], set(call["arguments"]) - REQUIRED[call["name"]]
        if structure == "flat_args":
            assert not optional
        elif structure == "nested_args":
            assert any(isinstance(v, dict) for v in args.values())
        elif structure == "arrays":
            assert any(isinstance(v, list) for v in args.values())
        elif structure == "enums":
            assert {"site", "encoding"} & set(args) or args.get("language") in ("bash", "javascript")
        elif structure == "numeric_ranges":
            assert any(isinstance(v, int) and not isinstance(v, bool) for v in args.values()) or (
                isinstance(args.get("grep"), dict) and "max_matches" in args["grep"])
        else:
            assert optional


def test_tool_results_are_a_function_of_the_arguments_not_constants(raw_rows):
    reg, by_key = default_registry(), {}
    for r in raw_rows[1]:
        for attempt in r["metadata"]["attempts"]:
            call = attempt["call"]
            key = (reg.normalize(call["name"], call["arguments"])[0], reg.fixture_key(call["name"], call["arguments"]))
            assert by_key.setdefault(key, attempt["result"]) == attempt["result"]
    ok = {k: json.dumps(v, sort_keys=True) for k, v in by_key.items() if v["ok"]}
    assert len(set(ok.values())) > 0.9 * len(ok)  # different arguments, different results


def test_controls_adversarial_and_negative_controls_behave(raw_rows):
    for r in raw_rows[1]:
        meta = r["metadata"]
        if meta["expected_behaviour"] in ("no_tool", "decline", "ask_clarify"):
            assert not meta["call_sequence"] and not meta["integration_claims"]
        if meta["expected_behaviour"] == "retry":
            assert [a["ok"] for a in meta["attempts"]] == [False, True]
        if meta["negative_control"]:
            assert not any(a["ok"] for a in meta["attempts"]) and not meta["integration_claims"]


def test_text_is_normalized_and_pii_redacted(raw_rows):
    texts = [m["content"] for r in raw_rows[1] for m in r["messages"] if isinstance(m.get("content"), str)]
    assert not any("@corp-mail.io" in t or "415-555" in t for t in texts)
    assert any("[EMAIL]" in t for t in texts)
    assert not any("\r" in t for t in texts)


def test_locale_probes_format_numbers_for_their_language(raw_rows):
    probes = [r for r in raw_rows[1] if r["metadata"]["locale_probe"]]
    assert probes and all(r["metadata"]["lang"] in ("es", "de", "fr") for r in probes)
    decimals = [c for r in probes for c in r["metadata"]["integration_claims"] if "," in c or "." in c]
    assert decimals, "a locale probe should show a decimal comma or a thousands separator"
