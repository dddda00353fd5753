"""The CAWS serving object: the one place where HTTP bodies meet the arbiter, the store and the cache.

Built once in `create_app` and kept on `app.state.caws`; it holds no per-request state. Every
refusal is an `ApiError` (400 with the arbiter's field paths, 404, 409, 503); a rejected request
writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from arbiter.claims.pipeline import claimify
from arbiter.codec import normalize, sha256_hex
from arbiter.judge import Judge
from arbiter.policy import Policy
from arbiter.request import adjudicate_request, waiver_ids
from arbiter.result import Diagnostic, Err
from arbiter.waivers import Waiver, parse_waiver
from modeling.judge import JudgeEntailment, JudgeModel
from service.api.errors import ApiError
from service.cache import Cache, CacheUnavailable
from service.caws.batching import BatchingJudge
from service.caws.judge import NoJudge
from service.store import Store, waivers
from service.store.keys import Principal
from service.store.verdicts import IdempotencyConflict, list_verdicts, save_verdict, verify_chain
from service.store.verdicts import get_verdict as load_verdict

log = logging.getLogger(__name__)

WAIVER_FIELDS = ("applies_to", "gates", "delta", "reason_code", "description", "mitigation", "expires_at",
                 "risk_owner")
TIE_MARGIN = 1e-4  # judge scores closer than this compare as a tie


def invalid(errors: tuple[Diagnostic, ...]) -> ApiError:
    """The arbiter's diagnostics -> one 400 naming every failing field path (the first one as `param`)."""
    message = "; ".join(f"{d.path}: {d.message}" for d in errors[:20])
    return ApiError(400, message, param=errors[0].path if errors else None, code="invalid_value")


def require_unicode(value: Any) -> None:
    """JSON may carry lone surrogates (\\ud800); no database, hash or response can encode them: a 400."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "text must be valid Unicode (no lone surrogate escapes such as \\ud800)",
                       code="invalid_value") from None


class CawsService:
    def __init__(self, store: Store, cache: Cache, policy: Policy, judge: Judge | None, idempotency_ttl_s: int,
                 on_verdict: Callable[[str], None] = lambda status: None):
        self.store, self.cache, self.policy, self.judge = store, cache, policy, judge
        self.idempotency_ttl_s, self.on_verdict = idempotency_ttl_s, on_verdict

    @property
    def entailment(self) -> JudgeEntailment | None:
        """claimify's entailment triage: the loaded judge's head when it has one that scored at least the
        lexical rules on its test triples in training; None (the lexical rules) otherwise."""
        judge = self.judge.model if isinstance(self.judge, BatchingJudge) else self.judge
        return JudgeEntailment(judge) if isinstance(judge, JudgeModel) and judge.entailment_beats_lexical else None

    def adjudicate(self, body: Mapping[str, Any], *, principal: Principal, idempotency_key: str | None) -> dict:
        """Decide, seal, persist (one transaction) and return the verdict record."""
        require_unicode(body)
        body_sha256 = sha256_hex(dict(body))
        scope_key = f"{principal.name}:{idempotency_key}" if idempotency_key else None
        if scope_key is not None:
            replay = self._idempotent_replay(scope_key, body_sha256)
            if replay is not None:
                return replay
        waivers = self._waivers(body)
        result = adjudicate_request(body, policy=self.policy, default_now=dt.datetime.now(dt.UTC), waivers=waivers,
                                    judge=self.judge or NoJudge())
        if isinstance(result, Err):
            raise invalid(result.errors)
        try:
            with self.store.sessions() as session:
                saved = save_verdict(session, record=result.value, principal=principal.name,
                                     idempotency=(scope_key, body_sha256) if scope_key else None)
        except IdempotencyConflict:
            raise self._conflict() from None
        if saved.created:
            self.on_verdict(saved.record["status"])
        if scope_key is not None:
            try:
                self.cache.set(f"idem:{scope_key}", json.dumps([body_sha256, saved.record["verdict_id"]]),
                               ttl_s=self.idempotency_ttl_s)
            except CacheUnavailable:  # the verdict is stored; the database answers the next replay
                log.warning("cache unavailable: idempotency key %s not cached", idempotency_key)
        return saved.record

    def _idempotent_replay(self, scope_key: str, body_sha256: str) -> dict | None:
        """The fast path: an Idempotency-Key the cache remembers is answered without adjudicating again."""
        try:
            cached = self.cache.get(f"idem:{scope_key}")
        except CacheUnavailable:
            return None  # the database's idempotency record still decides
        if cached is None:
            return None
        seen_sha256, verdict_id = json.loads(cached)
        if seen_sha256 != body_sha256:
            raise self._conflict()
        return self.verdict(verdict_id)

    @staticmethod
    def _conflict() -> ApiError:
        return ApiError(409, "this Idempotency-Key was used with another request body", param="Idempotency-Key",
                        code="idempotency_conflict")

    def _waivers(self, body: Mapping[str, Any]) -> list[Waiver]:
        """The stored waivers a request names; unknown ids are a 400 (a plea never carries waivers itself)."""
        ids = waiver_ids(body) if isinstance(body, Mapping) else Err(())
        if isinstance(ids, Err) or not ids.value:
            return []  # a malformed list is reported with the other errors by adjudicate_request
        with self.store.sessions() as session:
            docs = waivers.waivers_by_id(session, ids=list(ids.value))
        missing = [f"$.waiver_ids[{i}]" for i, w in enumerate(ids.value) if w not in docs]
        if missing:
            raise invalid(tuple(Diagnostic("request.waiver_ids", p, "no such waiver") for p in missing))
        return [parse_waiver(docs[w]).unwrap() for w in dict.fromkeys(ids.value)]

    def verdict(self, verdict_id: str) -> dict:
        with self.store.sessions() as session:
            record = load_verdict(session, verdict_id=verdict_id)
        if record is None:
            raise ApiError(404, f"no verdict {verdict_id!r}", param="verdict_id", code="not_found")
        return record

    def verdicts(self, change_id: str | None, limit: int, offset: int) -> dict:
        with self.store.sessions() as session:
            data, count = list_verdicts(session, change_id=change_id, limit=limit, offset=offset)
        return {"data": data, "count": count}

    def verify_chain(self) -> dict:
        with self.store.sessions() as session:
            return verify_chain(session).to_dict()

    def waivers(self, applies_to: str | None, status: str | None) -> dict:
        with self.store.sessions() as session:
            data = waivers.list_waivers(session, applies_to=applies_to, status=status)
        return {"data": data, "count": len(data)}

    def claimify(self, text: Any, context: Any, evidence_manifest: Any) -> dict:
        require_unicode([text, context, evidence_manifest])
        result = claimify(text, policy=self.policy.claims, context=context, evidence_manifest=evidence_manifest,
                          judge=self.entailment)
        if isinstance(result, Err):
            raise invalid(result.errors)
        return result.value

    def create_waiver(self, body: Mapping[str, Any], *, principal: Principal) -> dict:
        """A `proposed` waiver created by `principal`; the server assigns id, status, approvers and creator."""
        require_unicode(body)
        unknown = sorted(set(body) - set(WAIVER_FIELDS))
        if unknown:
            raise invalid(tuple(Diagnostic("waiver.unknown_key", f"$.{k}", f"unknown or server-set key {k!r}")
                                for k in unknown))
        doc = normalize({k: body[k] for k in WAIVER_FIELDS if k in body})
        parsed = parse_waiver({**doc, "id": "WV-0000", "approvers": [], "status": "proposed",
                               "created_by": principal.name})
        if isinstance(parsed, Err):
            raise invalid(parsed.errors)
        with self.store.sessions() as session:
            return waivers.create_waiver(session, doc=doc, created_by=principal.name,
                                         expires_at=parsed.value.expires_at)

    def approve_waiver(self, waiver_id: str, *, principal: Principal) -> dict:
        """One approval per principal; never the creator's; never without an authenticated principal."""
        if not principal.authenticated:
            raise ApiError(403, "waiver approval needs an authenticated principal (auth is off)", code="no_principal")
        try:
            with self.store.sessions() as session:
                waiver, _added = waivers.approve_waiver(session, waiver_id=waiver_id, handle=principal.name,
                                                        policy=self.policy)
        except waivers.WaiverNotFound:
            raise self._no_waiver(waiver_id) from None
        except waivers.SelfApproval as exc:
            raise ApiError(403, str(exc), code="self_approval") from None
        except waivers.WaiverRevoked as exc:
            raise ApiError(409, str(exc), code="waiver_revoked") from None
        return waiver

    def revoke_waiver(self, waiver_id: str) -> dict:
        try:
            with self.store.sessions() as session:
                return waivers.revoke_waiver(session, waiver_id=waiver_id)
        except waivers.WaiverNotFound:
            raise self._no_waiver(waiver_id) from None

    def waiver(self, waiver_id: str) -> dict:
        with self.store.sessions() as session:
            found = waivers.get_waiver(session, waiver_id=waiver_id)
        if found is None:
            raise self._no_waiver(waiver_id)
        return found

    @staticmethod
    def _no_waiver(waiver_id: str) -> ApiError:
        return ApiError(404, f"no waiver {waiver_id!r}", param="waiver_id", code="not_found")

    def judge_or_503(self, retry_after_s: int) -> Judge:
        if self.judge is None:
            raise ApiError(503, "no Judge model is loaded (artifacts/judge)", code="judge_unavailable",
                           headers={"Retry-After": str(retry_after_s)})
        return self.judge

    def score(self, judge: Judge, prompt: str, candidate: str) -> dict:
        require_unicode([prompt, candidate])
        return judge.score(prompt, candidate).to_dict()

    def compare(self, judge: Judge, prompt: str, a: str, b: str) -> dict:
        require_unicode([prompt, a, b])
        sa, sb = judge.score(prompt, a), judge.score(prompt, b)
        verdict = "TIE" if abs(sa.score - sb.score) < TIE_MARGIN else ("A" if sa.score > sb.score else "B")
        return {"verdict": verdict, "a": sa.to_dict(), "b": sb.to_dict()}
