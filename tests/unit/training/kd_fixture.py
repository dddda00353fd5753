"""A KD mix written by a tiny random teacher over the extracted test dataset, in the agreed format
(one record per assistant turn, top-k of the teacher for every teacher_text token)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from modeling.chat import ASSISTANT, render_message, render_messages
from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training.sft_data import dataset_fingerprint

KINDS = ("tool_name", "json_args", "integration")


@torch.no_grad()
def write_kd_mix(extracted: Path, tokenizer: Path, out: Path, k: int = 8, mode: str = "token",
                 max_len: int = 1024, limit: int = 40, seed: int = 0) -> Path:
    tok = KSTokenizer.load(tokenizer)
    lines = extracted.read_text(encoding="utf-8").splitlines()
    src = json.loads(lines[0])
    tools = src["tools"]
    torch.manual_seed(seed)
    teacher = Transformer(load_role_config("teacher_tiny").model).eval()
    header = {"__header__": True, "kind": "kd_mix", "version": 1, "teacher": "random teacher_tiny",
              "teacher_tokenizer_sha256": tok.sha256, "student_tokenizer_sha256": tok.sha256, "mode": mode,
              "capture": "forced", "k": k, "temperature": 1.0, "sampling_temperature": None,
              "source": {"path": str(extracted), "fingerprint": dataset_fingerprint(extracted)}, "tools": tools}
    records = []
    for line in lines[1:limit + 1]:
        row = json.loads(line)
        prompt_ids = tok.encode(row["prompt_text"])
        full = prompt_ids + tok.encode(row["teacher_text"])
        if len(full) > max_len:
            continue
        logprobs = torch.log_softmax(teacher(torch.tensor([full]))[0].float(), -1)
        p0, messages = len(prompt_ids), row["messages"]
        for t, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            text = render_message(m)[len(ASSISTANT):]
            ids = tok.encode(text)
            p = len(tok.encode(render_messages(messages[:t], tools, add_generation_prompt=True)))
            assert full[p:p + len(ids)] == ids, "a turn's tokens must be a slice of the conversation's"
            lp, top = logprobs[p - 1:p - 1 + len(ids)].topk(k, dim=-1)
            spans = {kind: [[p0 + s - p, p0 + e - p] for s, e in row["metadata"]["spans"][kind]["tokens"]
                            if p <= p0 + s and p0 + e <= p + len(ids)] for kind in KINDS}
            records.append({"id": f"{row['id']}#{t}", "sample_id": row["id"], "turn": t, "messages": messages[:t],
                            "teacher_text": text, "spans": spans, "finish_reason": "tool_calls" if m.get(
                                "tool_calls") else "stop",
                            "teacher_topk": None if mode == "sequence" else {
                                "ids": top.tolist(), "logprobs": [[round(v, 5) for v in r] for r in lp.tolist()]}})
    with out.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        f.writelines(json.dumps(r) + "\n" for r in records)
    return out
