"""The CONTRACTS §1 `POST /caws/adjudicate` body -> a verdict, for the service's one adapter.

The body holds `change_id`, `working_spec` (an object or YAML/JSON text), one plea at top level
or `candidates` (1..8), optional `waiver_ids` and optional `now`. The service resolves the
waiver ids to stored waivers (`waiver_ids`) and passes its own clock as `default_now`; a `now` in
the body wins. Every error carries its path in the body (`$.working_spec.risk_tier`,
`$.candidates[1].diff: line 3`, ...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from arbiter.codec import parse_time
from arbiter.judge import Judge
from arbiter.pleas import pleas_from_request
from arbiter.policy import Policy
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.spec import parse_spec
from arbiter.verdict import adjudicate
from arbiter.waivers import Waiver

_KNOWN = frozenset({"change_id", "working_spec", "diff", "rationale", "evidence_manifest", "gate_results",
                    "candidates", "waiver_ids", "now"})


def waiver_ids(body: Mapping[str, Any]) -> Result[tuple[str, ...]]:
    """The waiver ids a request names (the service looks them up; a plea never carries waivers)."""
    ids = body.get("waiver_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return Err((Diagnostic("request.waiver_ids", "$.waiver_ids", "waiver_ids is a list of ids"),))
    return Ok(tuple(ids))


def adjudicate_request(body: Mapping[str, Any], *, policy: Policy, default_now: dt.datetime,
                       waivers: Sequence[Waiver] = (), judge: Judge | None = None) -> Result[dict[str, Any]]:
    if not isinstance(body, Mapping):
        return Err((Diagnostic("request.type", "$", "the request body is a JSON object"),))
    errors = [Diagnostic("request.unknown_key", f"$.{k}", f"unknown key {k!r} is not allowed")
              for k in sorted(set(body) - _KNOWN)]
    change_id = body.get("change_id")
    if not isinstance(change_id, str) or not change_id:
        errors.append(Diagnostic("request.change_id", "$.change_id", "required field 'change_id' is missing"))
    if "working_spec" not in body:
        errors.append(Diagnostic("request.working_spec", "$.working_spec", "required field 'working_spec' is missing"))
    spec = parse_spec(body.get("working_spec") or {})
    if isinstance(spec, Err) and "working_spec" in body:
        errors += [Diagnostic(d.rule, "$.working_spec" + d.path[1:] if d.path.startswith("$") else
                              f"$.working_spec: {d.path}", d.message) for d in spec.errors]
    now = parse_time(body["now"], "$.now") if body.get("now") is not None else Ok(default_now)
    pleas = pleas_from_request(body)
    for result in (now, pleas, waiver_ids(body)):
        if isinstance(result, Err):
            errors.extend(result.errors)
    if errors:
        return Err(tuple(errors))
    path = "$.candidates" if "candidates" in body else "$"
    return adjudicate(spec.value, pleas.value, change_id=change_id, now=now.value, policy=policy,
                      waivers=waivers, judge=judge, path=path)
