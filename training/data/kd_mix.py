"""The KD mix: per assistant turn, the teacher's text and its top-k distribution per target token.

Format (docs/distillation.md): a header line `{"__header__": true, "kind": "kd_mix", "version": 1,
"teacher", "teacher_tokenizer_sha256", "student_tokenizer_sha256", "mode", "capture", "k",
"temperature", "sampling_temperature", "source": {"path", "fingerprint"}, "tools"}`, then one record per
assistant turn: `id` (`<sample id>#<message index>`), `sample_id`, `turn`, `messages` (the
conversation before the turn), `teacher_text` (the turn as the chat template renders it, ending with
`<|end|>`), `teacher_topk` (`{"ids", "logprobs"}`, one row of k per teacher_text token; null in
sequence mode), `spans` (token offsets into teacher_text's tokens) and `finish_reason`.

The training sequence of a record is `tok.encode(render_messages(messages, tools, True)) +
tok.encode(teacher_text)`; row j of `teacher_topk` is the teacher's distribution for token j of
teacher_text. Every boundary of the chat format is a special token, which byte-level BPE never
merges across, so this equals the tokens of the whole conversation cut at the turn
(`split_turns` checks it for every turn it emits).

Capture: `forced` (local teacher with the student's tokenizer) scores the dataset's own assistant
turns, one forward per conversation, many conversations per batch; `generated` lets the teacher
write each turn (a local model sampling, or an HTTP chat completion with tools and logprobs). A
teacher with another tokenizer gives sequence-level KD only (CE on its text), with a warning.

The run is resumable: records are appended one line at a time, and a re-run skips the ids already
in the file (a torn last line from a killed run is cut off). Statistics go to `<out>.report.json`.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from modeling.chat import (
    ASSISTANT,
    END,
    SPECIAL_TOKENS,
    ChatFormatError,
    parse_tool_calls,
    render_message,
    render_messages,
)
from modeling.model import WIDTH_BUCKET, bucket
from modeling.tokenizer import KSTokenizer
from training.data import token_cache
from training.data.extract import byte_spans, check_tokenizer_fingerprint
from training.data.jsonl import DataError, atomic_writer, dumps, iter_rows, read_header
from training.sft_data import dataset_fingerprint, is_heldout
from training.teachers import (
    Budget,
    BudgetExhausted,
    HTTPTeacher,
    LocalTeacher,
    MalformedResponse,
    TeacherError,
    TeacherFatal,
    TeacherTurn,
    open_teacher,
)
from training.teachers.local import item_seed, round_logprobs

log = logging.getLogger(__name__)

KIND = "kd_mix"
VERSION = 1
SPAN_KINDS = ("tool_name", "json_args", "integration")
FINISH_REASONS = ("stop", "tool_calls")
# `keep_all` mixes (on-policy data for a drafter) also hold the writer's cut-off turns, as it wrote them
ALL_FINISH_REASONS = (*FINISH_REASONS, "length")
HEADER_KEYS = ("kind", "version", "teacher", "teacher_tokenizer_sha256", "student_tokenizer_sha256", "mode",
               "capture", "k", "temperature", "sampling_temperature", "source", "tools")
RESUME_KEYS = (*(k for k in HEADER_KEYS if k not in ("source", "tools")), "keep_all")
MAX_LISTED_FAILURES = 200
GENERATE_BATCH = 64  # turns a local teacher writes in one decode loop
SELECT_BATCH = 512  # dataset rows encoded together


# ---- turns of an extracted sample ---------------------------------------------------------------


@dataclass
class Turn:
    """One assistant turn of a conversation, cut where the chat template puts `<|assistant|>`."""

    id: str
    sample_id: str
    index: int  # index of the assistant message in `messages`
    history: list[dict[str, Any]]
    prompt_len: int  # tokens of render_messages(history, tools, add_generation_prompt=True)
    text: str  # the dataset's (gold) turn as rendered, ending with <|end|>
    ids: list[int]  # tok.encode(text)
    spans: dict[str, list[list[int]]]  # gold spans, token offsets into `ids`
    finish: str = "stop"  # of the gold turn: tool_calls when it calls tools
    claims: list[str] = field(default_factory=list)  # integration claims (final answer only)


def turn_texts(row: dict[str, Any]) -> list[str]:
    """The texts `split_turns` encodes for `row`."""
    return [row["prompt_text"], row["teacher_text"],
            *(render_turn(m) for m in row["messages"] if m.get("role") == "assistant")]


def render_turn(message: dict[str, Any]) -> str:
    return render_message(message)[len(ASSISTANT):]


def split_turns(row: dict[str, Any], tools: Sequence[dict[str, Any]] | None, tok: KSTokenizer,
                encoded: dict[str, list[int]] | None = None) -> tuple[list[int], list[Turn]]:
    """(token ids of the whole conversation, its assistant turns) of an extracted sample; `encoded`
    holds encodings already made (`turn_texts` of many rows, encoded as one batch).

    Raises DataError when a turn's tokens are not exactly a slice of the conversation's tokens
    (which would mean BPE merged across a turn boundary)."""
    encode = tok.encode if encoded is None else lambda text: encoded.get(text) or tok.encode(text)
    messages = row["messages"]
    prompt_ids = encode(row["prompt_text"])
    full = prompt_ids + encode(row["teacher_text"])
    full_text = row["prompt_text"] + row["teacher_text"]
    offsets = _byte_offsets(tok, full)
    p0 = len(prompt_ids)
    gold = row["metadata"]["spans"]
    claims = list(row["metadata"].get("integration_claims") or ())
    indices = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    turns = []
    for n, t in enumerate(indices):
        prompt = render_messages(messages[:t], tools, add_generation_prompt=True)
        text = render_turn(messages[t])
        if not full_text.startswith(prompt + text, 0):
            raise DataError(f"sample {row['id']}: turn {t} does not render as a prefix of the conversation")
        start = len(prompt.encode("utf-8"))
        p = _token_index(offsets, start)
        ids = encode(text)
        if p is None or full[p - 1] != tok.tk.token_to_id(ASSISTANT) or full[p:p + len(ids)] != ids:
            raise DataError(f"sample {row['id']}: the tokens of turn {t} are not a slice of the conversation's "
                            "tokens (BPE merged across the turn boundary)")
        spans = {kind: [[p0 + s - p, p0 + e - p] for s, e in gold[kind]["tokens"]
                        if p <= p0 + s and p0 + e <= p + len(ids)] for kind in SPAN_KINDS}
        final = n == len(indices) - 1
        finish = "tool_calls" if messages[t].get("tool_calls") else "stop"
        turns.append(Turn(f"{row['id']}#{t}", row["id"], t, messages[:t], p, text, ids, spans, finish,
                          claims if final else []))
    return full, turns


_BYTE_LENGTHS: dict[int, torch.Tensor] = {}


def _byte_offsets(tok: KSTokenizer, ids: list[int]) -> list[int]:
    """`tok.byte_offsets(ids)`, vectorized (the per-token Python loop dominates long conversations)."""
    lengths = _BYTE_LENGTHS.get(id(tok))
    if lengths is None:
        lengths = _BYTE_LENGTHS[id(tok)] = torch.tensor([len(b) for b in tok.token_bytes], dtype=torch.long)
    return [0, *torch.cumsum(lengths[torch.tensor(ids, dtype=torch.long)], 0).tolist()]


def _token_index(offsets: list[int], byte_pos: int) -> int | None:
    """The token index starting at byte `byte_pos`, or None when no token boundary is there."""
    i = bisect.bisect_left(offsets, byte_pos)
    return i if i < len(offsets) and offsets[i] == byte_pos else None


def text_spans(text: str, claims: Sequence[str], tok: KSTokenizer, ids: list[int] | None = None
               ) -> dict[str, list[list[int]]]:
    """Tool-name, JSON-argument and integration token spans of one rendered turn (as the extract
    step defines them); integration spans are empty unless every claim is found in order."""
    try:
        spans = byte_spans(text, list(claims))
    except ValueError:
        spans = byte_spans(text, [])
    ids = tok.encode(text) if ids is None else ids
    offsets = tok.byte_offsets(ids)
    out = {}
    for kind in SPAN_KINDS:
        ranges = [tok.token_span(offsets, s, e) for s, e in spans[kind] if e > s]
        out[kind] = [[r.start, r.end] for r in ranges]
    return out


def check_turn(turn: TeacherTurn) -> None:
    """A generated turn must not smuggle chat-format tokens into its text, and its calls must parse."""
    parts = [turn.content] + [p for call in turn.tool_calls for p in call]
    for special in SPECIAL_TOKENS:
        if any(special in p for p in parts):
            raise MalformedResponse(f"the answer contains the chat-format token {special}", "special_token")
    turn.check_tool_calls()


def turn_from_ids(ids: list[int], ended: bool, tok: KSTokenizer) -> TeacherTurn:
    """A local model's generated ids (without the end token) -> TeacherTurn."""
    content, calls = parse_tool_calls(tok.decode(ids))
    return TeacherTurn(content=content, tool_calls=calls,
                       finish_reason=("tool_calls" if calls else "stop") if ended else "length",
                       completion_tokens=len(ids) + ended)


# ---- output file --------------------------------------------------------------------------------


class KDWriter:
    """Appends records to `out`, one whole line per write; resumes an existing compatible file."""

    def __init__(self, out: Path, header: dict[str, Any]):
        self.out, self.done = out, set()
        if out.exists() and out.stat().st_size > 0:
            self._resume(header)
        else:
            with atomic_writer(out) as f:
                f.write(dumps({"__header__": True, **header}) + "\n")
        self.f = out.open("a", encoding="utf-8")
        self.written = 0

    def _resume(self, header: dict[str, Any]) -> None:
        old = read_header(self.out)
        for key in RESUME_KEYS:
            if old.get(key) != header.get(key):
                raise DataError(f"{self.out}: exists with {key}={old.get(key)!r}, this run has {header.get(key)!r}; "
                                "delete it or choose another --out")
        if (old.get("source") or {}).get("fingerprint") != header["source"]["fingerprint"]:
            raise DataError(f"{self.out}: was built from another version of the dataset (fingerprint differs); "
                            "delete it or choose another --out")
        data = self.out.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):  # a killed run's torn last line
            log.warning("%s: dropping a torn last line (%d bytes)", self.out, len(data) - cut)
            with self.out.open("r+b") as f:
                f.truncate(cut)
        for _, row in iter_rows(self.out):
            self.done.add(row.get("id"))

    def write(self, record: dict[str, Any]) -> None:
        self.f.write(dumps(record) + "\n")
        self.f.flush()
        self.written += 1
        self.done.add(record["id"])
        if self.written % 256 == 0:
            os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Stats:
    ok: int = 0
    resumed: int = 0
    empty: int = 0
    truncated: int = 0
    malformed: int = 0
    failed: int = 0
    not_attempted: int = 0
    beyond_max_len: int = 0  # turns that start outside the student's training window, not asked for
    reasons: Counter = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)
    fallback: Counter = field(default_factory=Counter)
    target_tokens: int = 0

    def fail(self, kind: str, item: str, reason: str, message: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.reasons[f"{kind}:{reason}"] += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"id": item, "kind": kind, "reason": reason, "message": message[:300]})


class Unmappable(ValueError):
    """An HTTP answer's logprobs do not map 1:1 onto the student's tokens of the rendered turn."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class VocabMap:
    """Token bytes -> student token id, for logprobs that name tokens by their bytes."""

    def __init__(self, tok: KSTokenizer):
        seen: dict[bytes, int] = {}
        ambiguous = set()
        for i, b in enumerate(tok.token_bytes):
            if b in seen:
                ambiguous.add(b)
            seen[b] = i
        self.ids = {b: i for b, i in seen.items() if b not in ambiguous}

    def map(self, turn: TeacherTurn, target: list[int], k: int) -> tuple[list[list[int]], list[list[float]]]:
        """Top-k rows aligned with `target`, or Unmappable saying why the logprobs do not map 1:1."""
        entries = turn.logprobs
        if entries is None:
            raise Unmappable("no_logprobs", "the teacher returned no logprobs")
        if len(entries) == len(target) - 1 and target[-1] == self.ids.get(END.encode()):
            raise Unmappable("no_end_logprob", "no logprob for the end token")
        if len(entries) != len(target):
            raise Unmappable("length_mismatch",
                             f"{len(entries)} logprob tokens for {len(target)} tokens of the rendered text")
        ids, lps = [], []
        for j, (entry, want) in enumerate(zip(entries, target, strict=True)):
            if self.ids.get(entry.token) != want:
                raise Unmappable("token_mismatch", f"token {j} of the answer is not our tokenization of the text")
            row = [(self.ids.get(b), lp) for b, lp in entry.top[:k]]
            if len(row) < k or any(i is None for i, _ in row):
                raise Unmappable("top_logprobs", f"token {j}: {len(row)} mappable alternatives, need {k}")
            ids.append([i for i, _ in row])
            lps.append([round(lp, 4) for _, lp in row])
        return ids, lps


def _record(turn: Turn, text: str, topk: tuple[Any, Any] | None, spans: dict[str, list[list[int]]],
            finish: str) -> dict[str, Any]:
    return {"id": turn.id, "sample_id": turn.sample_id, "turn": turn.index, "messages": turn.history,
            "teacher_text": text, "teacher_topk": None if topk is None else {"ids": topk[0], "logprobs": topk[1]},
            "spans": spans, "finish_reason": finish}


class KDRun:
    def __init__(self, teacher: HTTPTeacher | LocalTeacher, tok: KSTokenizer, header: dict[str, Any],
                 writer: KDWriter, stats: Stats, *, max_tokens: int, batch_tokens: int, progress: bool):
        self.teacher, self.tok, self.header, self.writer, self.stats = teacher, tok, header, writer, stats
        self.k, self.mode = header["k"], header["mode"]
        self.tools = header["tools"] or None
        self.max_tokens, self.batch_tokens = max_tokens, batch_tokens
        self.progress = progress
        self.vocab = VocabMap(tok) if isinstance(teacher, HTTPTeacher) and self.mode == "token" else None
        self.aborted: str | None = None

    def bar(self, total: int) -> tqdm:
        return tqdm(total=total, desc="kd-mix", unit="turn", disable=not self.progress)

    def emit(self, turn: Turn, text: str, topk: tuple[Any, Any] | None, finish: str,
             spans: dict[str, list[list[int]]] | None = None, ids: list[int] | None = None) -> None:
        ids = self.tok.encode(text) if ids is None else ids
        if spans is None:
            spans = text_spans(text, turn.claims, self.tok, ids)
        self.writer.write(_record(turn, text, topk, spans, finish))
        self.stats.ok += 1
        self.stats.target_tokens += len(ids)

    # ---- forced capture: one forward per conversation, batched --------------------------------

    def forced(self, samples: list[tuple[list[int], list[Turn]]]) -> None:
        teacher = self.teacher
        assert isinstance(teacher, LocalTeacher)
        todo = [(full, [t for t in turns if t.id not in self.writer.done]) for full, turns in samples]
        todo = [(full, turns) for full, turns in todo if turns]
        with self.bar(sum(len(t) for _, t in todo)) as bar:
            runnable = []
            for full, turns in todo:
                end = max(t.prompt_len + len(t.ids) for t in turns)
                if end > teacher.max_seq_len:
                    for t in turns:
                        self.stats.fail("failed", t.id, "too_long",
                                        f"{end} tokens exceed the teacher's max_seq_len {teacher.max_seq_len}")
                    bar.update(len(turns))
                    continue
                runnable.append((full[:end], turns))
            runnable.sort(key=lambda s: len(s[0]))
            batch: list[tuple[list[int], list[Turn]]] = []
            for item in runnable:
                if batch and (len(batch) + 1) * bucket(len(item[0]), WIDTH_BUCKET) > self.batch_tokens:
                    self._forced_batch(batch, bar)
                    batch = []
                batch.append(item)
            if batch:
                self._forced_batch(batch, bar)

    def _forced_batch(self, batch: list[tuple[list[int], list[Turn]]], bar: tqdm) -> None:
        teacher = self.teacher
        assert isinstance(teacher, LocalTeacher)
        targets = [[(t.prompt_len, t.prompt_len + len(t.ids)) for t in turns] for _, turns in batch]
        results = teacher.topk([s for s, _ in batch], targets, self.k, self.header["temperature"])
        for (_, turns), per_turn in zip(batch, results, strict=True):
            for t, (ids, lps) in zip(turns, per_turn, strict=True):
                self.emit(t, t.text, (ids.tolist(), round_logprobs(lps)), t.finish, t.spans, t.ids)
                bar.update(1)

    # ---- generated capture --------------------------------------------------------------------

    def _usable(self, turn: Turn, result: TeacherTurn) -> tuple[str, list[int]] | None:
        """(text, student token ids) of a usable answer; an excluded one is counted and gives None."""
        if result.truncated:
            self.stats.fail("truncated", turn.id, "length", f"no end of turn within {self.max_tokens} tokens")
            return None
        if result.empty:
            self.stats.fail("empty", turn.id, "empty", "the teacher's answer is empty")
            return None
        try:
            check_turn(result)
        except MalformedResponse as exc:
            self.stats.fail("malformed", turn.id, exc.reason, str(exc))
            return None
        text = result.render()
        return text, self.tok.encode(text)

    def _accept(self, turn: Turn, result: TeacherTurn) -> None:
        """Count an excluded answer, or write the record of a usable one (HTTP teacher)."""
        usable = self._usable(turn, result)
        if usable is None:
            return
        text, ids = usable
        topk = None
        if self.mode == "token":
            assert self.vocab is not None
            try:
                topk = self.vocab.map(result, ids, self.k)
            except Unmappable as exc:
                self.stats.fallback[exc.reason] += 1
                log.info("%s: sequence-level only: %s", turn.id, exc)
        self.emit(turn, text, topk, result.finish_reason, ids=ids)

    def _prompt_ids(self, turn: Turn) -> list[int]:
        return self.tok.encode(render_messages(turn.history, self.tools, add_generation_prompt=True))

    def generated_local(self, turns: list[Turn]) -> None:
        """The local model writes every turn (batches of `GENERATE_BATCH` decoded together, shortest
        prompts together); in token mode its top-k over its own text is scored in one forward per batch."""
        teacher = self.teacher
        assert isinstance(teacher, LocalTeacher)
        t_sample = self.header["sampling_temperature"]
        prompts = {t.id: self._prompt_ids(t) for t in turns}
        todo = []
        for turn in turns:
            if len(prompts[turn.id]) >= teacher.max_seq_len:
                self.stats.fail("failed", turn.id, "too_long", "the prompt fills the teacher's context")
            else:
                todo.append(turn)
        todo.sort(key=lambda t: len(prompts[t.id]))
        with self.bar(len(turns)) as bar:
            bar.update(len(turns) - len(todo))
            for b in range(0, len(todo), GENERATE_BATCH):
                batch = todo[b:b + GENERATE_BATCH]
                results = teacher.generate_batch([prompts[t.id] for t in batch], self.max_tokens, t_sample,
                                                 [item_seed(t.id) for t in batch])
                ready = []
                for turn, (ids, ended) in zip(batch, results, strict=True):
                    result = turn_from_ids(ids, ended, teacher.tokenizer)
                    if self.header.get("keep_all"):  # what it wrote (+ <|end|> if it ended), tokenized canonically
                        written = teacher.tokenizer.decode([*ids, teacher.end_id] if ended else ids)
                        usable = (written, self.tok.encode(written)) if written else None
                    else:
                        usable = self._usable(turn, result)
                    if usable is None:
                        continue
                    if len(prompts[turn.id]) + len(usable[1]) > teacher.max_seq_len:
                        self.stats.fail("failed", turn.id, "too_long", "the turn does not fit the teacher's context")
                        continue
                    ready.append((turn, result, *usable))
                tops = [None] * len(ready)
                if self.mode == "token" and ready:
                    seqs = [prompts[t.id] + ids for t, _, _, ids in ready]
                    spans = [[(len(prompts[t.id]), len(prompts[t.id]) + len(ids))] for t, _, _, ids in ready]
                    tops = [(out[0].tolist(), round_logprobs(out[1]))
                            for (out,) in teacher.topk(seqs, spans, self.k, self.header["temperature"])]
                for (turn, result, text, ids), topk in zip(ready, tops, strict=True):
                    try:
                        marked = text_spans(text, turn.claims, self.tok, ids)
                    except ValueError:  # a keep_all turn with broken tool-call markup: no spans to weight
                        marked = {}
                    self.emit(turn, text, topk, result.finish_reason, marked, ids)
                bar.update(len(batch))

    def generated_http(self, turns: list[Turn], concurrency: int) -> None:
        teacher = self.teacher
        assert isinstance(teacher, HTTPTeacher)
        top = self.k if self.mode == "token" else 0
        t_sample = self.header["sampling_temperature"]

        def ask(turn: Turn) -> TeacherTurn:
            return teacher.chat(turn.history, self.tools, max_tokens=self.max_tokens, temperature=t_sample,
                                top_logprobs=top, seed=item_seed(turn.id))

        pending = iter(turns)
        inflight: dict[Future, Turn] = {}
        stop = False
        with ThreadPoolExecutor(max_workers=concurrency) as pool, self.bar(len(turns)) as bar:
            while True:
                while not stop and len(inflight) < 2 * concurrency:
                    turn = next(pending, None)
                    if turn is None:
                        break
                    inflight[pool.submit(ask, turn)] = turn
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    turn = inflight.pop(fut)
                    bar.update(1)
                    try:
                        result = fut.result()
                    except BudgetExhausted as exc:
                        stop = True
                        self.stats.fail("not_attempted", turn.id, exc.reason, str(exc))
                        continue
                    except TeacherFatal as exc:
                        stop, self.aborted = True, str(exc)
                        self.stats.fail("failed", turn.id, exc.reason, str(exc))
                        continue
                    except MalformedResponse as exc:
                        log.warning("%s: malformed teacher response skipped: %s", turn.id, exc)
                        self.stats.fail("malformed", turn.id, exc.reason, str(exc))
                        continue
                    except TeacherError as exc:
                        log.warning("%s: teacher failed: %s", turn.id, exc)
                        self.stats.fail("failed", turn.id, exc.reason, str(exc))
                        continue
                    self._accept(turn, result)
            for turn in pending:
                reason = "aborted" if self.aborted else "budget_exhausted"
                self.stats.fail("not_attempted", turn.id, reason, self.aborted or "the teacher budget is used up")


Row = tuple[int, int, dict[str, Any]]  # (index in the file, line number, row)


def _pick(data: Path, include_heldout: bool, heldout_fraction: float, limit: int | None) -> tuple[list[Row], int]:
    """The first `limit` conversations of `data` (held-out ones only with `include_heldout`), and how many
    held-out conversations were passed over on the way."""
    rows: list[Row] = []
    passed = 0
    for index, (lineno, row) in enumerate(iter_rows(data)):
        if limit is not None and len(rows) >= limit:
            break
        try:
            if include_heldout or not is_heldout(str(row["id"]), heldout_fraction):
                rows.append((index, lineno, row))
            else:
                passed += 1
        except (KeyError, TypeError) as exc:
            raise DataError(f"{data}:{lineno}: not an extracted sample ({type(exc).__name__}: {exc})") from None
    return rows, passed


def _select(data: Path, tok: KSTokenizer, tools: list[dict[str, Any]] | None, rows: list[Row],
            fingerprint: str | None = None) -> Iterator[tuple[list[int], list[Turn]]]:
    """(token ids, assistant turns) of the picked conversations; `fingerprint` is the dataset's sha256
    when the caller has it (it picks extract's token cache)."""
    cached = token_cache.read(data, fingerprint or dataset_fingerprint(data), tok)  # prompt and teacher text
    for b in range(0, len(rows), SELECT_BATCH):  # encoded a batch of rows at a time, on the tokenizer's threads
        chunk = rows[b:b + SELECT_BATCH]
        encoded: dict[str, list[int]] = {}
        if cached is not None:
            for index, _, row in chunk:
                encoded[row["prompt_text"]], encoded[row["teacher_text"]] = cached[index]
        try:
            texts = list({text: None for _, _, row in chunk for text in turn_texts(row) if text not in encoded})
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{data}: not an extracted sample ({type(exc).__name__}: {exc})") from None
        encoded.update(zip(texts, tok.encode_batch(texts), strict=True))
        for _, lineno, row in chunk:
            try:
                yield split_turns(row, tools, tok, encoded)
            except (KeyError, TypeError, ChatFormatError) as exc:
                raise DataError(f"{data}:{lineno}: not an extracted sample ({type(exc).__name__}: {exc})") from None


def build_kd_mix(
    teacher_spec: str,
    data: str | os.PathLike[str],
    tokenizer_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    k: int = 20,
    temperature: float = 1.0,
    sampling_temperature: float | None = None,
    capture: str | None = None,
    teacher_model: str | None = None,
    max_tokens: int = 512,
    concurrency: int = 4,
    rpm: int | None = None,
    tpm: int | None = None,
    budget_tokens: int | None = None,
    budget_usd: float | None = None,
    price_in: float = 0.0,
    price_out: float = 0.0,
    cache: str | os.PathLike[str] | None = None,
    include_heldout: bool = False,
    heldout_fraction: float = 0.1,
    limit: int | None = None,
    batch_tokens: int = 16384,
    progress: bool = False,
    api_key: str | None = None,
    timeout: float = 120.0,
    max_retries: int = 5,
    transport: Any = None,
    teacher_dtype: str = "float32",
    max_len: int | None = None,
    keep_all: bool = False,
) -> dict[str, Any]:
    """Build (or resume) the KD mix at `out`; returns the report also written to `<out>.report.json`.

    `keep_all` (generated capture with a local model of the student's tokenizer) stores every turn as
    the model wrote it, cut-off and malformed ones included: on-policy data for a drafter, which must
    imitate its worker whatever the worker writes."""
    start = time.monotonic()
    data, out = Path(data), Path(out)
    if not 0 <= k <= 20:
        raise ValueError(f"k must be between 0 and 20, not {k}")
    if temperature <= 0:
        raise ValueError("temperature (of the stored teacher distributions) must be > 0")
    if capture not in (None, "forced", "generated"):
        raise ValueError(f"capture must be forced or generated, not {capture!r}")
    src = read_header(data, required=("tokenizer_sha256", "tools"))
    tok = KSTokenizer.load(tokenizer_dir)
    check_tokenizer_fingerprint(data, src, tok)
    budget = Budget(budget_tokens, budget_usd, price_in, price_out)
    teacher = open_teacher(teacher_spec, model=teacher_model, api_key=api_key, rpm=rpm, tpm=tpm,
                           concurrency=concurrency, cache_dir=cache, budget=budget, timeout=timeout,
                           max_retries=max_retries, transport=transport) \
        if not teacher_spec.startswith("local:") else open_teacher(teacher_spec, dtype=teacher_dtype)
    try:
        return _build(teacher, data, src, tok, out, k=k, temperature=temperature,
                      sampling_temperature=sampling_temperature, capture=capture, max_tokens=max_tokens,
                      concurrency=concurrency, include_heldout=include_heldout, heldout_fraction=heldout_fraction,
                      limit=limit, batch_tokens=batch_tokens, progress=progress, budget=budget, start=start,
                      max_len=max_len, keep_all=keep_all)
    finally:
        if isinstance(teacher, HTTPTeacher):
            teacher.close()


def _build(teacher: HTTPTeacher | LocalTeacher, data: Path, src: dict[str, Any], tok: KSTokenizer, out: Path, *,
           k: int, temperature: float, sampling_temperature: float | None, capture: str | None, max_tokens: int,
           concurrency: int, include_heldout: bool, heldout_fraction: float, limit: int | None,
           batch_tokens: int, progress: bool, budget: Budget, start: float, max_len: int | None,
           keep_all: bool) -> dict[str, Any]:
    local = isinstance(teacher, LocalTeacher)
    teacher_sha = teacher.tokenizer_sha256
    same = teacher_sha is not None and teacher_sha == tok.sha256
    warnings = []
    if capture is None:
        capture = "forced" if local and same else "generated"
    if capture == "forced" and not (local and same):
        raise DataError("forced capture scores the dataset's own turns and needs a local teacher with the student's "
                        f"tokenizer (teacher {str(teacher_sha)[:12]}…, student {str(tok.sha256)[:12]}…); "
                        "use --capture generated")
    mode = "token" if same and k > 0 else "sequence"
    if keep_all and not (local and same and capture == "generated"):
        raise DataError("keep_all stores a local model's own generated turns: it needs --capture generated and a "
                        "local teacher with the student's tokenizer")
    if not same:
        warnings.append(f"teacher tokenizer {str(teacher_sha)[:12]}… differs from the student's {tok.sha256[:12]}… "
                        "(or is unknown): token-level KD refused, sequence-level KD (CE on the teacher's text) only")
    topk_temperature = temperature
    if not local and mode == "token" and temperature != 1.0:
        warnings.append("an HTTP teacher returns logprobs at temperature 1: teacher_topk is stored at 1.0 and "
                        f"--temperature {temperature} is used for sampling only")
        topk_temperature = 1.0
    if capture == "generated":
        sampling = temperature if sampling_temperature is None else sampling_temperature
    else:
        sampling = None
    header = {
        "kind": KIND, "version": VERSION, "teacher": teacher.spec, "teacher_tokenizer_sha256": teacher_sha,
        "student_tokenizer_sha256": tok.sha256, "mode": mode, "capture": capture, "k": k if mode == "token" else 0,
        "temperature": topk_temperature, "sampling_temperature": sampling,
        "source": {"path": str(data), "fingerprint": dataset_fingerprint(data)}, "tools": src["tools"],
    }
    if keep_all:
        header["keep_all"] = True
    for w in warnings:
        log.warning("kd-mix: %s", w)
    tools = src["tools"] or None
    rows, heldout = _pick(data, include_heldout, heldout_fraction, limit)
    samples = list(_select(data, tok, tools, rows, header["source"]["fingerprint"]))
    writer = KDWriter(out, header)
    stats = Stats()
    if max_len is not None:  # a student that trains on at most max_len tokens never reads turns that start after
        fits = [(full, [t for t in turns if t.prompt_len < max_len]) for full, turns in samples]
        stats.beyond_max_len = sum(len(t) for _, t in samples) - sum(len(t) for _, t in fits)
        samples = [(full, turns) for full, turns in fits if turns]
    all_turns = [t for _, turns in samples for t in turns]
    stats.resumed = sum(t.id in writer.done for t in all_turns)
    run = KDRun(teacher, tok, header, writer, stats, max_tokens=max_tokens, batch_tokens=batch_tokens,
                progress=progress)
    try:
        if capture == "forced":
            run.forced(samples)
        else:
            todo = [t for t in all_turns if t.id not in writer.done]
            if local:
                run.generated_local(todo)
            else:
                run.generated_http(todo, max(1, concurrency))
    finally:
        writer.close()
    seconds = time.monotonic() - start
    report = {
        "out": str(out), "teacher": header["teacher"], "mode": mode, "capture": capture, "k": header["k"],
        "temperature": topk_temperature, "sampling_temperature": sampling, "warnings": warnings,
        "samples": {"used": len(samples), "heldout_excluded": heldout, "include_heldout": include_heldout},
        "items": {"total": len(all_turns), "ok": stats.ok, "resumed": stats.resumed, "empty": stats.empty,
                  "truncated": stats.truncated, "malformed": stats.malformed, "failed": stats.failed,
                  "not_attempted": stats.not_attempted, "beyond_max_len": stats.beyond_max_len},
        "reasons": dict(sorted(stats.reasons.items())), "failures": stats.failures,
        "sequence_fallback": {"count": sum(stats.fallback.values()), "reasons": dict(stats.fallback)},
        "tokens": {"teacher_text": stats.target_tokens},
        "aborted": run.aborted, "seconds": round(seconds, 2),
        "turns_per_s": round(stats.ok / seconds, 1) if seconds > 0 else None,
    }
    if isinstance(teacher, LocalTeacher):
        report["teacher_dtype"] = teacher.dtype
    if isinstance(teacher, HTTPTeacher):
        report["teacher_usage"] = {**budget.summary(), "retries": teacher.retries}
    if stats.fallback:
        report["warnings"].append(f"{sum(stats.fallback.values())} turns are sequence-level only (their logprobs do "
                                  "not map 1:1 onto the student's tokenization)")
    with atomic_writer(out.with_name(out.name + ".report.json")) as f:
        f.write(json.dumps(report, indent=2) + "\n")
    return report


# ---- reading ------------------------------------------------------------------------------------


def kd_sequence(record: dict[str, Any], header: dict[str, Any], tok: KSTokenizer) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids) of a record: the training sequence is their concatenation."""
    return tok.encode(kd_prompt(record, header)), tok.encode(record["teacher_text"])


def kd_prompt(record: dict[str, Any], header: dict[str, Any]) -> str:
    """The rendered history of a record, ending with the `<|assistant|>` header."""
    return render_messages(record["messages"], header.get("tools") or None, add_generation_prompt=True)


def validate_record(record: dict[str, Any], header: dict[str, Any], tok: KSTokenizer,
                    ids: list[int] | None = None) -> tuple[list[int], tuple[torch.Tensor, torch.Tensor] | None]:
    """Check one record against the format; returns (tok.encode(teacher_text) or `ids`, that encoding
    already made; teacher_topk as tensors [n, k] or None). Raises ValueError."""
    for key in ("id", "sample_id", "turn", "messages", "teacher_text", "spans", "finish_reason"):
        if key not in record:
            raise ValueError(f"record lacks field '{key}'")
    if not isinstance(record["turn"], int) or record["id"] != f"{record['sample_id']}#{record['turn']}":
        raise ValueError(f"id {record['id']!r} is not '<sample_id>#<turn>'")
    if not isinstance(record["messages"], list) or not record["messages"]:
        raise ValueError("messages must be a non-empty list (the conversation before the turn)")
    text = record["teacher_text"]
    if header.get("keep_all"):  # the writer's turns as written: cut off (no <|end|>) or empty included
        if not isinstance(text, str) or not text or record["finish_reason"] not in ALL_FINISH_REASONS or \
                text.endswith(END) == (record["finish_reason"] == "length"):
            raise ValueError("teacher_text must be a generated turn that ends with <|end|> unless its "
                             "finish_reason is length")
    elif not isinstance(text, str) or not text.endswith(END) or text == END:
        raise ValueError("teacher_text must be a non-empty rendered turn ending with <|end|>")
    elif record["finish_reason"] not in FINISH_REASONS:
        raise ValueError(f"finish_reason must be one of {FINISH_REASONS}")
    if ids is None:
        ids = tok.encode(text)
    topk = record.get("teacher_topk")
    tensors = None
    if topk is not None:
        if header["mode"] != "token":
            raise ValueError("teacher_topk in a sequence-mode file")
        tensors = _check_topk(topk, len(ids), min(header["k"], tok.vocab_size), tok.vocab_size)
    spans = record["spans"]
    if not isinstance(spans, dict):
        raise ValueError("spans must be an object")
    for kind in SPAN_KINDS:
        for span in spans.get(kind) or ():
            if not (isinstance(span, list) and len(span) == 2 and 0 <= span[0] < span[1] <= len(ids)):
                raise ValueError(f"spans.{kind} {span!r} is not a token range inside teacher_text ({len(ids)})")
    return ids, tensors


def _check_topk(topk: Any, n: int, k: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One row of k ids and k logprobs per teacher_text token, ids in the vocabulary, logprobs <= 0
    (checked on tensors: a mix holds millions of numbers)."""
    rows, lps = topk.get("ids"), topk.get("logprobs")
    if not isinstance(rows, list) or not isinstance(lps, list) or not len(rows) == len(lps) == n:
        raise ValueError(f"teacher_topk must have one row per teacher_text token ({n})")
    for j, (r, lp) in enumerate(zip(rows, lps, strict=True)):
        if not isinstance(r, list) or not isinstance(lp, list) or len(r) != k or len(lp) != k:
            raise ValueError(f"teacher_topk row {j} has {_len(r)} ids / {_len(lp)} logprobs, expected {k}")
    try:
        ids, values = torch.tensor(rows), torch.tensor(lps)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError("teacher_topk rows must hold numbers only") from None
    if n == 0:
        return ids.view(0, k).to(torch.int32), values.view(0, k).float()
    bad = (ids < 0) | (ids >= vocab) if ids.dtype == torch.int64 else torch.ones_like(ids, dtype=torch.bool)
    if bad.any():
        raise ValueError(f"teacher_topk row {int(bad.any(-1).nonzero()[0])}: token id outside the vocabulary")
    bad = values > 1e-6 if values.dtype in (torch.int64, torch.float32) else torch.ones_like(values, dtype=torch.bool)
    if bad.any():
        raise ValueError(f"teacher_topk row {int(bad.any(-1).nonzero()[0])}: logprobs must be numbers <= 0")
    return ids.to(torch.int32), values.float()


def _len(x: Any) -> int | str:
    return len(x) if isinstance(x, list) else type(x).__name__


def load_kd_mix(path: str | os.PathLike[str], tokenizer: KSTokenizer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read and validate a KD mix for the student's tokenizer: (header, records as in the file).
    DataError on bad input."""
    header, records, _ = _read(path, tokenizer, tensors=False)
    return header, records


def read_kd_mix(path: str | os.PathLike[str], tokenizer: KSTokenizer
                ) -> tuple[dict[str, Any], list[dict[str, Any]], list[list[int]]]:
    """`load_kd_mix` for training: each record's teacher_topk as {"ids": int32 [n, k], "logprobs":
    float32 [n, k]} (converted once, while validating), and the token ids of every teacher_text."""
    return _read(path, tokenizer, tensors=True)


def _read(path: str | os.PathLike[str], tokenizer: KSTokenizer, tensors: bool
          ) -> tuple[dict[str, Any], list[dict[str, Any]], list[list[int]]]:
    path = Path(path)
    header = read_header(path, required=HEADER_KEYS)
    if header["kind"] != KIND or header["version"] != VERSION:
        raise DataError(f"{path}:1: not a {KIND} v{VERSION} file (kind {header['kind']!r}, version "
                        f"{header['version']!r})")
    if header["mode"] not in ("token", "sequence") or header["capture"] not in ("forced", "generated"):
        raise DataError(f"{path}:1: bad mode {header['mode']!r} or capture {header['capture']!r}")
    if header["student_tokenizer_sha256"] != tokenizer.sha256:
        raise DataError(f"{path}:1: made for student tokenizer {str(header['student_tokenizer_sha256'])[:12]}…, "
                        f"but {tokenizer.path}/tokenizer.json is {str(tokenizer.sha256)[:12]}…")
    rows = list(iter_rows(path))
    texts = [row.get("teacher_text") for _, row in rows]
    encoded = iter(tokenizer.encode_batch([t for t in texts if isinstance(t, str)]))
    records, seen, text_ids = [], set(), []
    for (lineno, row), text in zip(rows, texts, strict=True):
        try:
            ids, top = validate_record(row, header, tokenizer, next(encoded) if isinstance(text, str) else None)
        except (ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}:{lineno}: {exc}") from None
        if row["id"] in seen:
            raise DataError(f"{path}:{lineno}: duplicate record id {row['id']!r}")
        seen.add(row["id"])
        if tensors and top is not None:
            row["teacher_topk"] = {"ids": top[0], "logprobs": top[1]}
        records.append(row)
        text_ids.append(ids)
    return header, records, text_ids


def stderr_is_tty() -> bool:
    with contextlib.suppress(AttributeError, ValueError):
        return sys.stderr.isatty()
    return False


