"""CAWS arbiter core: a pure library (no web, no SQL, no torch, no clock).

Callers pass text, parsed objects and the time `now`; every public entry point returns data:
`Ok(value)` or `Err(diagnostics)` for input checks, plain records for decisions. File I/O lives
only in `arbiter.loaders`, which the CLI and the service use at their edges.

Modules: `spec` (working spec), `diffs` (unified diff -> stats), `examine` (budget, scope,
naming), `gates` (tier thresholds and gate results), `waivers` (applicability), `verdict`
(decision rule and record), `judge` (the Judge interface), `provenance` (hash chain),
`claims` (claimify and claim verification), `request` (the HTTP body adapter), `schemas/`
(JSON Schemas, validated in code).
"""

from arbiter.diffs import DiffStats, parse_diff
from arbiter.judge import DeterministicJudge, Judge, JudgeScore
from arbiter.pleas import Plea
from arbiter.policy import Policy, parse_policy
from arbiter.provenance import ChainReport, append, seal, verify
from arbiter.request import adjudicate_request
from arbiter.result import Diagnostic, Err, InvalidInput, Ok, Result
from arbiter.spec import WorkingSpec, parse_spec
from arbiter.verdict import adjudicate
from arbiter.waivers import Waiver, parse_waiver, parse_waivers

__all__ = [
    "ChainReport", "DeterministicJudge", "Diagnostic", "DiffStats", "Err", "InvalidInput", "Judge", "JudgeScore",
    "Ok", "Plea", "Policy", "Result", "Waiver", "WorkingSpec", "adjudicate", "adjudicate_request", "append",
    "parse_diff", "parse_policy", "parse_spec", "parse_waiver", "parse_waivers", "seal", "verify",
]
