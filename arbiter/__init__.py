"""CAWS arbiter core: a pure library (no web, no SQL, no torch, no clock).

Callers pass text, parsed objects and the time `now`; every public entry point returns data:
`Ok(value)` or `Err(diagnostics)` for input checks, plain records for decisions. File I/O lives
only in `arbiter.loaders`, which the CLI and the service use at their edges.

Modules: `spec` (working spec), `diffs` (unified diff -> stats), `examine` (budget, scope,
naming), `gates` (tier thresholds and gate results), `waivers` (applicability), `verdict`
(decision rule and record), `judge` (the Judge interface), `provenance` (hash chain),
`claims` (claimify and claim verification), `schemas/` (JSON Schemas, validated in code).
"""

from arbiter.result import Diagnostic, Err, InvalidInput, Ok, Result

__all__ = ["Diagnostic", "Err", "InvalidInput", "Ok", "Result"]
