"""The project's tokenizer: a byte-level BPE trained with `tokenizers` on our own corpus.

- Byte-level with no normalizer: encoding is lossless, so every token maps to an exact byte range
  of the input and spans computed in UTF-8 bytes convert to token spans without guessing.
- Every digit is its own token: a number is the same token sequence wherever it appears (`" 532"`
  in a prompt, `532` inside JSON arguments), so copying a number is copying tokens.
- Chat-format special tokens (`modeling.chat.SPECIAL_TOKENS`) have fixed ids 0..n-1; they are
  in-vocabulary (the original clamped out-of-vocabulary specials to the last id).
- Saved Hugging Face compatible: `tokenizer.json`, `tokenizer_config.json` (with the chat template)
  and `special_tokens_map.json`. The tokenizer's identity is the sha256 of `tokenizer.json`.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizers.pre_tokenizers import ByteLevel

from modeling.chat import BOS, CHAT_TEMPLATE, END, PAD, SPECIAL_TOKENS

# Vocabulary size per profile (the role configs of the same profile use the same number).
VOCAB_SIZES = {"tiny": 512, "toy": 2048, "real": 32000}
MODEL_MAX_LENGTH = 32768


class TokenizerError(ValueError):
    """A tokenizer directory that is missing, corrupt or does not match what the data expects."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode table that ByteLevel uses for token strings."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, n = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


@dataclass(frozen=True)
class TokenSpan:
    start: int  # first token index
    end: int  # one past the last token index


class KSTokenizer:
    """A loaded tokenizer with byte-exact offset helpers."""

    def __init__(self, tokenizer: Tokenizer, path: Path | None = None, sha256: str | None = None):
        self.tk = tokenizer
        self.path = path
        self.sha256 = sha256
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            raise TokenizerError(f"tokenizer lacks special tokens {missing}")
        self.pad_id = tokenizer.token_to_id(PAD)
        self.bos_id = tokenizer.token_to_id(BOS)
        self.end_id = tokenizer.token_to_id(END)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> KSTokenizer:
        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise TokenizerError(f"{path}: no tokenizer.json (train one with `kimi-student tokenizer train`)")
        try:
            tk = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses for corrupt files
            raise TokenizerError(f"{path}: cannot load tokenizer: {exc}") from exc
        return cls(tk, Path(directory), sha256_file(path))

    @property
    def vocab_size(self) -> int:
        return self.tk.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tk.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` of many texts, on the tokenizer's own threads."""
        return [e.ids for e in self.tk.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tk.decode(list(ids), skip_special_tokens=False)

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """The exact bytes each token id stands for."""
        dec = _byte_decoder()
        special = set(SPECIAL_TOKENS) | {t.content for t in self.tk.get_added_tokens_decoder().values()}
        out = []
        for i in range(self.vocab_size):
            tok = self.tk.id_to_token(i)
            out.append(tok.encode() if tok in special else bytes(dec[c] for c in tok))
        return out

    def byte_offsets(self, ids: list[int]) -> list[int]:
        """Cumulative byte offsets: token i covers bytes [offsets[i], offsets[i+1])."""
        table = self.token_bytes
        offsets = [0]
        for i in ids:
            offsets.append(offsets[-1] + len(table[i]))
        return offsets

    def token_span(self, offsets: list[int], start: int, end: int) -> TokenSpan:
        """Smallest token range covering the byte range [start, end)."""
        if not 0 <= start < end <= offsets[-1]:
            raise ValueError(f"byte span [{start}, {end}) outside text of {offsets[-1]} bytes")
        first = bisect.bisect_right(offsets, start) - 1
        last = bisect.bisect_left(offsets, end)
        return TokenSpan(first, last)


def _corpus_iter(texts: Iterable[str], batch: int = 256) -> Iterator[list[str]]:
    buf: list[str] = []
    for t in texts:
        buf.append(t)
        if len(buf) == batch:
            yield buf
            buf = []
    if buf:
        yield buf


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE over `texts`; special tokens are split out before BPE sees the text."""
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise TokenizerError(f"vocab_size {vocab_size} is smaller than 256 bytes + special tokens")
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(_corpus_iter(texts), trainer=trainer)
    if tk.get_vocab_size() != vocab_size:
        raise TokenizerError(f"the corpus is too small for a vocabulary of {vocab_size}: BPE found only "
                             f"{tk.get_vocab_size()} tokens; generate more data or lower the vocabulary size")
    return tk


def save_tokenizer(tk: Tokenizer, directory: str | os.PathLike[str]) -> str:
    """Write the HF-compatible files atomically (temp dir, then rename); returns the sha256."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        tk.save(str(tmp / "tokenizer.json"))
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": BOS,
            "eos_token": END,
            "pad_token": PAD,
            "model_max_length": MODEL_MAX_LENGTH,
            "clean_up_tokenization_spaces": False,
            "add_bos_token": False,
            "chat_template": CHAT_TEMPLATE,
        }
        (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        specials = {"bos_token": BOS, "eos_token": END, "pad_token": PAD}
        (tmp / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
        digest = sha256_file(tmp / "tokenizer.json")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return digest
