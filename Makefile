# kimi-student — every target works on a fresh machine: `make test` and `make serve` install what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KS := $(VENV)/bin/kimi-student
STAMP := $(VENV)/.installed

DATA ?= data
SEED ?= 42
TOTAL ?= 300
TOKENIZER ?= artifacts/tokenizer
PROFILE ?= toy

.PHONY: install test lint contextual-gen contextual-extract contextual-verify contextual-pipeline \
        tokenizer gen-scale-1k gen-scale-10k verify-scale-1k verify-scale-10k bench-data clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(VENV)/bin/pytest -q tests

# ---- contextual tool-use dataset: gen -> tokenizer -> extract -> verify -----------------------------
contextual-gen: $(STAMP)
	$(KS) data gen --out $(DATA)/contextual.jsonl --total $(TOTAL) --seed $(SEED)

tokenizer: $(STAMP)
	$(KS) tokenizer train --in $(DATA)/contextual.jsonl --out $(TOKENIZER) --profile $(PROFILE)

contextual-extract: $(STAMP)
	$(KS) data extract --in $(DATA)/contextual.jsonl --out $(DATA)/contextual_extracted.jsonl --tokenizer $(TOKENIZER)

contextual-verify: $(STAMP)
	$(KS) data verify --in $(DATA)/contextual_extracted.jsonl --report $(DATA)/contextual_report.json

contextual-pipeline: contextual-gen tokenizer contextual-extract contextual-verify

# KD mix (docs/distillation.md): KD_TEACHER=local:DIR (forced capture) or http(s)://HOST[:PORT][/v1][#MODEL]
# (generated; key from KS_TEACHER_API_KEY). Resumable: run it again after an interruption.
KD_TEACHER ?= local:artifacts/teacher
.PHONY: kd-dataset
kd-dataset: $(STAMP)
	$(KS) data kd-mix --teacher $(KD_TEACHER) --data $(DATA)/contextual_extracted.jsonl --tokenizer $(TOKENIZER) \
	  --out $(DATA)/kd_mix.jsonl --cache $(DATA)/teacher_cache $(KD_FLAGS)

gen-scale-1k: $(STAMP)
	$(KS) data gen --out $(DATA)/scale_1k.jsonl --total 1000 --seed $(SEED)
	test -f $(TOKENIZER)/tokenizer.json || $(KS) tokenizer train --in $(DATA)/scale_1k.jsonl --out $(TOKENIZER) --profile $(PROFILE)
	$(KS) data extract --in $(DATA)/scale_1k.jsonl --out $(DATA)/scale_1k_extracted.jsonl --tokenizer $(TOKENIZER)

verify-scale-1k: $(STAMP)
	$(KS) data verify --in $(DATA)/scale_1k_extracted.jsonl --report $(DATA)/scale_1k_report.json

# 10k in 10 real shards of one global sample space, then merged and checked against each other.
gen-scale-10k: $(STAMP)
	for i in 0 1 2 3 4 5 6 7 8 9; do \
	  $(KS) data gen --out $(DATA)/scale_10k.shard$$i.jsonl --total 10000 --seed $(SEED) --num-shards 10 --shard-index $$i || exit 1; \
	done
	$(KS) data merge --out $(DATA)/scale_10k.jsonl $(DATA)/scale_10k.shard*.jsonl
	test -f $(TOKENIZER)/tokenizer.json || $(KS) tokenizer train --in $(DATA)/scale_10k.jsonl --out $(TOKENIZER) --profile $(PROFILE)
	$(KS) data extract --in $(DATA)/scale_10k.jsonl --out $(DATA)/scale_10k_extracted.jsonl --tokenizer $(TOKENIZER)

verify-scale-10k: $(STAMP)
	$(KS) data verify --in $(DATA)/scale_10k_extracted.jsonl --report $(DATA)/scale_10k_report.json

bench-data: $(STAMP)
	$(PY) bench/bench_data.py --total 10000

clean:
	rm -rf $(DATA) artifacts .pytest_cache .ruff_cache

# ---- CAWS arbiter: agreement of adjudication with labelled cases, spec validation, claimify ----------
CAWS_CASES ?= configs/caws/examples
CAWS_POLICY ?= configs/caws/policy.yaml

.PHONY: caws-eval caws-test bench-caws
caws-eval: $(STAMP)
	$(KS) caws eval --cases $(CAWS_CASES) --policy $(CAWS_POLICY)

caws-test: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit/arbiter tests/property/test_arbiter_properties.py

bench-caws: $(STAMP)
	$(PY) bench/bench_adjudication.py

# ---- models: tokenizer, training, the toy portfolio ------------------------------------------------
ARTIFACTS ?= artifacts
EXTRACTED ?= $(ARTIFACTS)/data/contextual_extracted.jsonl

.PHONY: bootstrap bootstrap-tiny teacher worker drafter drafter-data bench-train kd worker-sft proc bench-kd bench-toolcall-errors bench-copy-probe

bootstrap: $(STAMP)
	$(KS) bootstrap --profile $(PROFILE) --artifacts $(ARTIFACTS)

bootstrap-tiny: $(STAMP)
	$(KS) bootstrap --profile tiny --artifacts $(ARTIFACTS)-tiny

teacher: $(STAMP)
	$(KS) train teacher --config teacher_$(PROFILE) --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer --out $(ARTIFACTS)/teacher

# Distillation (docs/distillation.md): the KD mix of the toy teacher (kd-dataset on $(ARTIFACTS)), the worker by KD,
# then a short process-supervision stage from it. `worker-sft` is the SFT-only worker (the ablation's baseline).
KD_MIX ?= $(ARTIFACTS)/data/kd_mix.jsonl

kd: $(STAMP)
	$(MAKE) kd-dataset DATA=$(ARTIFACTS)/data TOKENIZER=$(ARTIFACTS)/tokenizer KD_TEACHER=local:$(ARTIFACTS)/teacher \
	  KD_FLAGS="--teacher-dtype bfloat16 --max-len 384"

worker: $(STAMP)
	$(KS) train worker --config worker_$(PROFILE)_kd --data $(EXTRACTED) --kd-data $(KD_MIX) --tokenizer $(ARTIFACTS)/tokenizer \
	  --init-from $(ARTIFACTS)/teacher --out $(ARTIFACTS)/worker

worker-sft: $(STAMP)
	$(KS) train worker --config worker_$(PROFILE) --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer \
	  --init-from $(ARTIFACTS)/teacher --out $(ARTIFACTS)/worker_sft

proc: $(STAMP)
	$(KS) train worker --config worker_$(PROFILE)_proc --data $(EXTRACTED) --kd-data $(KD_MIX) --tokenizer $(ARTIFACTS)/tokenizer \
	  --init-from $(ARTIFACTS)/worker --out $(ARTIFACTS)/worker_proc

bench-kd: $(STAMP)
	$(PY) bench/bench_kd.py --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer --teacher $(ARTIFACTS)/teacher \
	  --kd-mix $(KD_MIX) --proc-config worker_$(PROFILE)_proc --out $(ARTIFACTS)/bench_kd

# The drafter: the worker writes greedy turns for DRAFTER_SAMPLES training conversations with its top-k
# (on-policy data), then the worker pruned to the drafter's width is distilled on them; its evaluations
# report speculative acceptance (alpha, expected tokens per step) on the worker's held-out trajectories.
DRAFTER_MIX ?= $(ARTIFACTS)/data/drafter_mix.jsonl
DRAFTER_SAMPLES ?= 1000

drafter-data: $(STAMP)
	$(KS) data kd-mix --teacher local:$(ARTIFACTS)/worker --capture generated --sampling-temperature 0 --keep-all \
	  --max-tokens 192 --max-len 384 --limit $(DRAFTER_SAMPLES) --teacher-dtype float32 --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer \
	  --out $(DRAFTER_MIX)

drafter: $(STAMP)
	$(KS) train drafter --config drafter_$(PROFILE) --data $(EXTRACTED) --kd-data $(DRAFTER_MIX) \
	  --tokenizer $(ARTIFACTS)/tokenizer --init-from $(ARTIFACTS)/worker --worker $(ARTIFACTS)/worker --out $(ARTIFACTS)/drafter

bench-train: $(STAMP)
	$(PY) bench/bench_train.py

# Where a trained role's held-out tool-call arguments go wrong (copy vs inference errors), e.g. ROLE=worker.
ROLE ?= teacher
bench-toolcall-errors: $(STAMP)
	$(PY) bench/bench_toolcall_errors.py --artifact $(ARTIFACTS)/$(ROLE) --data $(EXTRACTED) \
	  --out $(ARTIFACTS)/$(ROLE)_toolcall_errors.jsonl

bench-copy-probe: $(STAMP)
	$(PY) bench/bench_copy_probe.py --config $(ROLE)_toy --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer

# ---- judge: pairs from CAWS scenarios labelled by the arbiter, then pairwise + clause training -----
JUDGE_PAIRS ?= $(ARTIFACTS)/data/judge_pairs
JUDGE_SCENARIOS ?= 1500

.PHONY: judge_pairs_from_caws judge judge_train judge_bench

judge_pairs_from_caws: $(STAMP)
	$(KS) data judge-pairs --out $(JUDGE_PAIRS) --scenarios $(JUDGE_SCENARIOS) --seed 0

judge_train: $(STAMP)
	$(KS) train judge --config judge_$(PROFILE) --pairs $(JUDGE_PAIRS) --tokenizer $(ARTIFACTS)/tokenizer --out $(ARTIFACTS)/judge

judge: judge_pairs_from_caws judge_train

judge_bench: $(STAMP)
	$(PY) bench/bench_judge.py --artifact $(ARTIFACTS)/judge

# ---- serving: the OpenAI-compatible API (bootstraps the toy models on first use) -------------------
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_ARTIFACTS ?= artifacts

.PHONY: serve bench-serve bench-decode-calls

serve: $(STAMP)  # the default backend, auto, serves a role on onnxruntime once it has a current ONNX export
	test -f $(SERVE_ARTIFACTS)/worker/manifest.json || $(KS) bootstrap --profile toy --artifacts $(SERVE_ARTIFACTS)
	for role in worker drafter judge; do test ! -f $(SERVE_ARTIFACTS)/$$role/manifest.json || \
	  test -f $(SERVE_ARTIFACTS)/onnx/$$role/contract.json || \
	  $(KS) export onnx --artifact $(SERVE_ARTIFACTS)/$$role || exit 1; done
	$(KS) serve --host $(HOST) --port $(PORT) --artifacts $(SERVE_ARTIFACTS)

bench-serve: $(STAMP)
	$(PY) bench/bench_serve.py --artifacts $(SERVE_ARTIFACTS)

bench-decode-calls: $(STAMP)  # one decode call by rows, tokens and cached slots (needs `make onnx` for onnx)
	$(PY) bench/bench_decode_calls.py --artifacts $(SERVE_ARTIFACTS)

# ---- evaluation: multi-turn tool replay against an OpenAI-compatible endpoint or a checkpoint -------
MODEL ?= worker
IN ?= $(ARTIFACTS)/data/contextual_extracted.jsonl
OUT ?= eval/results.jsonl
REPORT ?= eval/report.json
SPLIT ?= heldout
BASE_URL ?= http://$(HOST):$(PORT)/v1
CHECKPOINT ?= $(ARTIFACTS)/worker
EVAL_ARGS ?=

.PHONY: eval-runner-openai eval-runner-local

eval-runner-openai: $(STAMP)
	$(KS) eval --runner openai --base-url $(BASE_URL) --model $(MODEL) --in $(IN) --out $(OUT) --report $(REPORT) \
	  --split $(SPLIT) --seed $(SEED) --temperature 0 $(EVAL_ARGS)

eval-runner-local: $(STAMP)
	$(KS) eval --runner local --checkpoint $(CHECKPOINT) --in $(IN) --out $(OUT) --report $(REPORT) \
	  --split $(SPLIT) --seed $(SEED) --temperature 0 $(EVAL_ARGS)

# ---- CAWS service: database migrations, API keys, adjudication benchmark ----------------------------
KEY_NAME ?= local
KEY_SCOPES ?= adjudicate,waivers:write,waivers:approve

.PHONY: db-upgrade key bench-caws-service

db-upgrade: $(STAMP)
	$(KS) db upgrade

key: $(STAMP)
	$(KS) keys create --name $(KEY_NAME) --scopes $(KEY_SCOPES)

bench-caws-service: $(STAMP)
	$(PY) bench/bench_caws_service.py

# ---- conversion: ONNX and Core ML exports of the artifacts, and the probes that check them ------------
# Outputs go to $(ARTIFACTS)/onnx/<role>/ and $(ARTIFACTS)/coreml/<role>/ (where `serve --backend onnx` looks).
.PHONY: onnx-worker onnx-drafter onnx-judge onnx coreml-worker coreml-drafter coreml-judge coreml probes

onnx-worker onnx-drafter onnx-judge: onnx-%: $(STAMP)
	$(KS) export onnx --artifact $(ARTIFACTS)/$*

onnx: onnx-worker onnx-drafter onnx-judge

coreml-worker coreml-drafter coreml-judge: coreml-%: $(STAMP)
	$(KS) export coreml --artifact $(ARTIFACTS)/$*

coreml: coreml-worker coreml-drafter coreml-judge

probes: $(STAMP)
	$(KS) export probes --root $(ARTIFACTS)

# ---- QAT: int8 fake-quantized fine-tuning of a trained worker -> an int8 artifact (docs/distillation.md) --
QAT_FROM ?= $(ARTIFACTS)/worker
QAT_OUT ?= $(ARTIFACTS)/worker_int8

.PHONY: qat bench-qat

qat: $(STAMP)
	$(KS) train worker --config worker_$(PROFILE)_qat --data $(EXTRACTED) --kd-data $(KD_MIX) --tokenizer $(ARTIFACTS)/tokenizer \
	  --init-from $(QAT_FROM) --out $(QAT_OUT)

bench-qat: $(STAMP)
	$(PY) bench/bench_qat.py --fp32 $(QAT_FROM) --int8 $(QAT_OUT) --data $(EXTRACTED) --tokenizer $(ARTIFACTS)/tokenizer \
	  --out $(ARTIFACTS)/bench_qat
