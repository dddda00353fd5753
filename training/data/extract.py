"""Process-target extraction: tool-name, JSON-argument, integration and tool-result spans.

Spans index `teacher_text`, as true UTF-8 byte offsets and as token offsets of `teacher_text`
tokenized alone. `teacher_text` starts right after the `<|assistant|>` special token, and special
tokens cut byte-level BPE, so its tokens are exactly the tail of the full conversation's tokens:
add `num_tokens.prompt` to a token span to index the full sequence. The trainer reads them from
`metadata.spans`:

    {"tool_name": {"bytes": [[s, e], ...], "tokens": [[s, e], ...]},
     "json_args": {...}, "integration": {...}, "tool_result": {...}}

`tool_result` spans are environment text (tool outputs), never training targets.

The token ids of both texts of every sample go to `<out>.tokens.npz` (training/data/token_cache.py)
for the dataset's readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from modeling.chat import ASSISTANT, END, TOOL, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END
from modeling.checkpoint import sha256_file
from modeling.tokenizer import KSTokenizer
from training.data import token_cache
from training.data.jsonl import DataError, iter_rows, read_header, write_jsonl
from training.data.tools import default_registry

SPAN_KINDS = ("tool_name", "json_args", "integration", "tool_result")
ENCODE_BATCH = 256  # samples encoded together, on the tokenizer's threads


def check_tokenizer_fingerprint(path: Path, header: dict[str, Any], tok: KSTokenizer) -> None:
    """An extracted dataset's token spans are only valid for the tokenizer that made them."""
    if header.get("tokenizer_sha256") != tok.sha256:
        raise DataError(f"{path}:1: wrong tokenizer fingerprint: header tokenizer_sha256 "
                        f"{str(header.get('tokenizer_sha256'))[:12]}… but {tok.path}/tokenizer.json is "
                        f"{str(tok.sha256)[:12]}…")


def _between(data: bytes, open_tok: bytes, close_tok: bytes) -> list[tuple[int, int]]:
    """Byte ranges strictly between each `open_tok` and the next `close_tok`."""
    out, pos = [], 0
    while (i := data.find(open_tok, pos)) != -1:
        start = i + len(open_tok)
        end = data.find(close_tok, start)
        if end == -1:
            raise ValueError(f"unterminated {open_tok.decode()} at byte {i}")
        out.append((start, end))
        pos = end
    return out


def byte_spans(teacher_text: str, claims: list[str]) -> dict[str, list[tuple[int, int]]]:
    data = teacher_text.encode("utf-8")
    calls = _between(data, TOOL_CALL.encode(), TOOL_CALL_END.encode())
    names, args = [], []
    for start, end in calls:
        sep = data.find(TOOL_ARGS.encode(), start, end)
        if sep == -1:
            raise ValueError(f"tool call at byte {start} has no {TOOL_ARGS}")
        names.append((start, sep))
        args.append((sep + len(TOOL_ARGS.encode()), end))
    # the final answer is the last assistant turn; claims are located in order inside it
    answer_start = data.rfind(ASSISTANT.encode()) + len(ASSISTANT.encode()) if ASSISTANT.encode() in data else 0
    integration, pos = [], answer_start
    for claim in claims:
        c = claim.encode("utf-8")
        i = data.find(c, pos)
        if i == -1:
            raise ValueError(f"integration claim {claim!r} not found in the final answer")
        integration.append((i, i + len(c)))
        pos = i + len(c)
    results = _between(data, TOOL.encode(), END.encode())
    return {"tool_name": names, "json_args": args, "integration": integration, "tool_result": results}


def extract_sample(sample: dict[str, Any], tok: KSTokenizer,
                   encoded: tuple[list[int], list[int]] | None = None) -> dict[str, Any]:
    """The sample with its spans in bytes and tokens; `encoded` is (prompt ids, teacher ids) when already made."""
    teacher = sample["teacher_text"]
    spans = byte_spans(teacher, sample["metadata"].get("integration_claims", []))
    prompt_ids, ids = encoded or (tok.encode(sample["prompt_text"]), tok.encode(teacher))
    offsets = tok.byte_offsets(ids)
    if offsets[-1] != len(teacher.encode("utf-8")):
        raise ValueError("tokenizer is not lossless on this text (byte offsets do not add up)")
    out = {}
    for kind, ranges in spans.items():
        token_ranges = [tok.token_span(offsets, s, e) for s, e in ranges]
        out[kind] = {"bytes": [list(r) for r in ranges], "tokens": [[t.start, t.end] for t in token_ranges]}
    meta = dict(sample["metadata"])
    meta["spans"] = out
    meta["spans_target"] = "teacher_text"
    meta["num_tokens"] = {"prompt": len(prompt_ids), "teacher": len(ids)}
    return {**sample, "metadata": meta}


def run(inp: Path, out: Path, tokenizer_dir: Path, progress: bool = False) -> dict[str, Any]:
    header = read_header(inp, required=("dataset_version", "tool_registry_sha256"))
    registry = default_registry()
    if header["tool_registry_sha256"] != registry.sha256:
        raise DataError(f"{inp}:1: tool_registry_sha256 {header['tool_registry_sha256'][:12]}… does not match "
                        f"configs/tools ({registry.sha256[:12]}…): regenerate the data")
    tok = KSTokenizer.load(tokenizer_dir)
    header = {k: v for k, v in header.items() if k != "__header__"}
    header.update(tokenizer_sha256=tok.sha256, tokenizer_dir=str(tokenizer_dir), extracted=True)

    encodings: list[tuple[list[int], list[int]]] = []  # per sample, for the token cache

    def extracted(chunk: list[tuple[int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        texts = []
        for lineno, row in chunk:
            for key in ("id", "teacher_text", "prompt_text", "metadata"):
                if key not in row:
                    raise DataError(f"{inp}:{lineno}: sample lacks field '{key}'")
            texts += [row["prompt_text"], row["teacher_text"]]
        ids = tok.encode_batch(texts)
        for n, (lineno, row) in enumerate(chunk):
            encodings.append((ids[2 * n], ids[2 * n + 1]))
            try:
                yield extract_sample(row, tok, encodings[-1])
            except ValueError as exc:
                raise DataError(f"{inp}:{lineno} ({row['id']}): {exc}") from None

    def rows() -> Iterator[dict[str, Any]]:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for item in tqdm(iter_rows(inp), desc="extract", disable=not progress, unit="sample"):
            chunk.append(item)
            if len(chunk) == ENCODE_BATCH:
                yield from extracted(chunk)
                chunk = []
        yield from extracted(chunk)

    count = write_jsonl(out, header, rows())
    token_cache.write(out, sha256_file(out), tok, encodings)
    return {"in": str(inp), "out": str(out), "samples": count, "tokenizer_sha256": tok.sha256}
