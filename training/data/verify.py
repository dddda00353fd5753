"""Dataset verification: per-item checks, aggregate metrics and a gate table.

Per item: structure, render consistency, schema/semantic validity of every call against the
registry, CAWS header, privacy, normalization, control behaviour, token-alignment round trip,
multi-call parity, integration precision/recall/F1 (lax and strict grounding).
`gates.py` turns the aggregates into the gate table; a failing hard gate makes the run exit 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modeling.chat import ChatFormatError, render_sample
from modeling.tokenizer import KSTokenizer
from training.data.grounding import Evidence, integration_prf
from training.data.text import is_normalized, privacy_problems
from training.data.tools import ToolRegistry

LONG_CONTEXT_TOKENS = 8000
NO_CALL_BEHAVIOURS = {"no_tool", "decline", "ask_clarify"}
CAWS_KEYS = {"tier": int, "max_files": int, "max_loc": int, "cov": int, "mut": int, "in": list, "out": list}


@dataclass
class ItemResult:
    id: str
    line: int
    problems: list[str] = field(default_factory=list)
    semantic_ok: bool = True
    caws_header_ok: bool = True
    privacy_ok: bool = True
    token_align_ok: bool = True
    parity_ok: bool = True
    eligible: bool = False
    integration: dict[str, float] = field(default_factory=dict)
    num_tokens: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def caws_header_problems(system: str) -> list[str]:
    try:
        header = json.loads(system.split("\n", 1)[0])["caws"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return ["caws_header:missing"]
    bad = [k for k, t in CAWS_KEYS.items() if not isinstance(header.get(k), t)]
    if bad or header["tier"] not in (1, 2, 3) or not header["in"]:
        return [f"caws_header:invalid:{','.join(bad) or 'tier/in'}"]
    return []


def _calls_in_messages(messages: list[dict[str, Any]]) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """(calls with parsed arguments, tool results parsed from tool messages)."""
    calls, results = [], []
    for m in messages:
        for c in m.get("tool_calls") or ():
            try:
                args = json.loads(c["function"]["arguments"])
            except (json.JSONDecodeError, KeyError, TypeError):
                args = None
            calls.append((c.get("function", {}).get("name", ""), args))
        if m.get("role") == "tool":
            try:
                results.append(json.loads(m["content"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                results.append({"ok": False, "error": "unparseable"})
    return calls, results


class Verifier:
    def __init__(self, header: dict[str, Any], tok: KSTokenizer, registry: ToolRegistry):
        self.header, self.tok, self.registry = header, tok, registry

    def check(self, line: int, row: dict[str, Any], teacher_ids: list[int] | None = None) -> ItemResult:
        """All checks of one item; a malformed item is reported, never raised. `teacher_ids` is the
        tokenizer's encoding of the item's teacher_text when already made (the dataset's token cache)."""
        res = ItemResult(str(row.get("id")), line)
        try:
            self._check(res, row, teacher_ids)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            res.semantic_ok = res.token_align_ok = False
            res.problems.append(f"structure:malformed item ({type(exc).__name__}: {exc})")
        return res

    def _check(self, res: ItemResult, row: dict[str, Any], teacher_ids: list[int] | None) -> None:
        meta, messages = row.get("metadata") or {}, row.get("messages") or []
        if not messages or "spans" not in meta:
            res.problems.append("structure:missing messages or spans (run `data extract` first)")
            return
        try:
            if render_sample(messages, self.header["tools"]) != (row.get("prompt_text"), row.get("teacher_text")):
                res.problems.append("render:text does not match messages")
        except (ChatFormatError, KeyError, TypeError) as exc:
            res.problems.append(f"render:{exc}")
        self._semantics(res, meta, messages)
        self._hygiene(res, messages)
        self._behaviour(res, meta)
        self._alignment(res, row, meta, teacher_ids)
        self._integration(res, row, meta, messages)

    def _semantics(self, res: ItemResult, meta: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        calls, _ = _calls_in_messages(messages)
        expected = [(c["name"], c["arguments"]) for c in meta.get("call_sequence", [])]
        for name, args in calls:
            errors = ["arguments are not valid JSON"] if args is None else self.registry.validate(name, args)
            if errors:
                res.semantic_ok = False
                res.problems.append(f"semantic:{name}:{errors[0]}")
        if calls != expected:
            res.semantic_ok = False
            res.problems.append("semantic:call_sequence differs from the tool calls in messages")
        n_args = len(meta["spans"]["json_args"]["bytes"])
        res.parity_ok = n_args == len(calls) == len(meta["spans"]["tool_name"]["bytes"])
        if not res.parity_ok:
            res.problems.append(f"parity:{len(calls)} calls but {n_args} argument spans")

    def _hygiene(self, res: ItemResult, messages: list[dict[str, Any]]) -> None:
        texts = [m["content"] for m in messages if isinstance(m.get("content"), str)]
        problems = sorted({p for t in texts for p in privacy_problems(t)})
        res.privacy_ok = not problems
        res.problems += [f"privacy:{p}" for p in problems]
        if not all(is_normalized(t) for t in texts):
            res.problems.append("text:not NFC/LF")
        system = texts[0] if messages[0].get("role") == "system" else ""
        caws = caws_header_problems(system)
        res.caws_header_ok = not caws
        res.problems += caws

    def _behaviour(self, res: ItemResult, meta: dict[str, Any]) -> None:
        behaviour, attempts = meta.get("expected_behaviour"), meta.get("attempts", [])
        n_integr = len(meta["spans"]["integration"]["bytes"])
        if behaviour in NO_CALL_BEHAVIOURS and (attempts or n_integr):
            res.problems.append(f"control:{behaviour} item has calls or integration spans")
        if behaviour == "report_failure" and (n_integr or any(a["ok"] for a in attempts)):
            res.problems.append("negative_control:claims a result of a failed call")
        if behaviour == "retry" and not (len(attempts) >= 2 and not attempts[0]["ok"] and attempts[-1]["ok"]):
            res.problems.append("retry:needs a failed attempt followed by a successful one")
        if meta.get("long_context"):
            total = sum(meta.get("num_tokens", {}).values())
            if total < LONG_CONTEXT_TOKENS:
                res.problems.append(f"long_context:{total} tokens < {LONG_CONTEXT_TOKENS}")

    def _alignment(self, res: ItemResult, row: dict[str, Any], meta: dict[str, Any],
                   teacher_ids: list[int] | None) -> None:
        text = row["teacher_text"]
        data = text.encode("utf-8")
        ids = self.tok.encode(text) if teacher_ids is None else teacher_ids
        res.num_tokens = len(ids) + meta.get("num_tokens", {}).get("prompt", 0)
        for kind, spans in meta["spans"].items():
            if len(spans["bytes"]) != len(spans["tokens"]):
                res.token_align_ok = False
                res.problems.append(f"token_align:{kind} has {len(spans['bytes'])} byte spans "
                                    f"but {len(spans['tokens'])} token spans")
                return
            for (bs, be), (ts, te) in zip(spans["bytes"], spans["tokens"], strict=True):
                want = data[bs:be].decode("utf-8", errors="replace")
                got = self.tok.decode(ids[ts:te])
                if not (0 <= ts < te <= len(ids)) or got.strip() != want.strip():
                    res.token_align_ok = False
                    res.problems.append(f"token_align:{kind}[{bs}:{be}] decodes to {got[:40]!r}")
                    return

    def _integration(self, res: ItemResult, row: dict[str, Any], meta: dict[str, Any],
                     messages: list[dict[str, Any]]) -> None:
        _, results = _calls_in_messages(messages)
        ok_results = [r for r in results if r.get("ok")]
        res.eligible = meta.get("expected_behaviour") in ("tool_use", "retry") and bool(ok_results)
        if not res.eligible:
            return
        data = row["teacher_text"].encode("utf-8")
        spans = [data[s:e].decode("utf-8") for s, e in meta["spans"]["integration"]["bytes"]]
        ev, lang = Evidence(ok_results), meta.get("lang", "en")
        for mode in ("lax", "strict"):
            p, r, f = integration_prf(spans, ev, lang, mode)
            res.integration.update({f"precision_{mode}": p, f"recall_{mode}": r, f"f1_{mode}": f})
        if res.integration["f1_lax"] < 1.0:
            res.problems.append(f"integration:ungrounded span (lax F1 {res.integration['f1_lax']:.2f})")
