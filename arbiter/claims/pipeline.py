"""`claimify`: text (+ context, + evidence manifest) -> the CONTRACTS §1 claimify response.

Sentences are processed in order; each resolved sentence becomes context for the ones after it.
With an evidence manifest every claim carries a `verification`; the response carries a
fingerprint of the configuration (pipeline version, claims policy, entailment judge) so a result
can be reproduced. Input and output are validated against their schemas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from arbiter.claims.decomposition import Claim, decompose, number_claims
from arbiter.claims.disambiguation import ClaimContext, disambiguate
from arbiter.claims.entailment import EntailmentJudge, LexicalJudge
from arbiter.claims.evidence import chunks
from arbiter.claims.selection import select
from arbiter.claims.text import split_sentences
from arbiter.claims.verification import verify_claim
from arbiter.codec import normalize, sha256_hex
from arbiter.policy import ClaimsPolicy
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.schema import validate

PIPELINE_VERSION = "claimify/v1"


def fingerprint(policy: ClaimsPolicy, judge: EntailmentJudge) -> str:
    return sha256_hex({"pipeline": PIPELINE_VERSION, "claims_policy": dataclasses.asdict(policy),
                       "entailment_judge": judge.name})


def claimify(text: str, *, policy: ClaimsPolicy, context: Mapping[str, Any] | None = None,
             evidence_manifest: Mapping[str, Any] | None = None,
             judge: EntailmentJudge | None = None) -> Result[dict[str, Any]]:
    request = normalize({"text": text, **({"context": context} if context is not None else {}),
                         **({"evidence_manifest": evidence_manifest} if evidence_manifest is not None else {})})
    errors = validate("claimify_request", request)
    if evidence_manifest is not None and not errors:
        errors = tuple(Diagnostic(e.rule, "$.evidence_manifest" + e.path[1:], e.message)
                       for e in validate("evidence_manifest", request["evidence_manifest"]))
    if errors:
        return Err(errors)
    ctx = ClaimContext(**request.get("context", {}))
    judge = judge if judge is not None else LexicalJudge()
    sentences, claims = extract(request["text"], ctx)
    manifest = request.get("evidence_manifest")
    print_ = fingerprint(policy, judge)
    pool = chunks(manifest, policy) if manifest is not None else []
    rendered = []
    for claim in claims:
        item = {"id": claim.id, "statement": claim.statement, "source_sentence": claim.source_sentence}
        if manifest is not None:
            item["verification"] = verify_claim(claim.statement, c_max(claim, ctx), manifest, pool, policy,
                                                judge, print_)
        rendered.append(item)
    response = {"sentences": sentences, "claims": rendered, "config_fingerprint": print_}
    problems = validate("claimify_response", response)
    if problems:
        raise RuntimeError("claimify built an invalid response: " + "; ".join(map(str, problems)))
    return Ok(response)


def extract(text: str, ctx: ClaimContext) -> tuple[list[dict[str, Any]], list[Claim]]:
    """Selection -> disambiguation -> decomposition for every sentence; claims numbered C1.. in order."""
    preceding = split_sentences(ctx.prior_text) if ctx.prior_text else []
    rows, parts = [], []
    for sentence in split_sentences(text):
        chosen = select(sentence)
        row: dict[str, Any] = {"text": sentence, "selected": chosen.selected, "selection_reason": chosen.reason,
                               "disambiguation": {"status": "not_selected"}, "claims": []}
        rows.append(row)
        if not chosen.selected:
            preceding.append(sentence)
            continue
        result = disambiguate(chosen.text, preceding, ctx)
        row["disambiguation"] = {"status": result.status}
        if result.reason:
            row["disambiguation"]["reason"] = result.reason
        if result.status == "resolved":
            row["disambiguation"]["text"] = result.text
        preceding.append(result.text if result.status != "cannot_disambiguate" else sentence)
        statements = decompose(result.text) if result.status != "cannot_disambiguate" else []
        parts.append((len(rows) - 1, sentence, statements, result.brackets))
    claims = number_claims(parts)
    for claim in claims:
        rows[claim.sentence_index]["claims"].append(claim.id)
    return rows, claims


def c_max(claim: Claim, ctx: ClaimContext) -> str:
    """The claim with every piece of context it could depend on, in brackets (tokens of c kept)."""
    extras = list(claim.brackets)
    if ctx.change and ctx.change.lower() not in claim.statement.lower():
        extras.append(f"change: {ctx.change}")
    if not extras:
        return claim.statement
    return f"{claim.statement.rstrip('.')} [{'; '.join(extras)}]."
