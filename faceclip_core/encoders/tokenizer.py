"""CLIP byte-pair tokenizer, offline, with open_clip's "lower" text cleaning (what FaceCLIP tokenizes with)
or with transformers' CLIPTokenizer cleaning and padding (what FaceT5's CLIP-L is called with).

The vocabulary is OpenAI CLIP's BPE merges file, carried in faceclip_core/data (MIT, see the licence
beside it), so no hub call and no open_clip_torch (which drags torchvision and timm) are needed.
"""
from __future__ import annotations

import gzip
import html
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import ftfy
import regex
import torch

from ..errors import FaceCLIPError

BPE_PATH = Path(__file__).parents[1] / "data" / "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
START_TOKEN = "<start_of_text>"
END_TOKEN = "<end_of_text>"
# merges used by CLIP: the file's first line is a header; 49152 - 256 - 2 merges follow
_NUM_MERGES = 49152 - 256 - 2


@lru_cache()
def _bytes_to_unicode() -> dict[int, str]:
    """Reversible byte -> printable-character map, so BPE never sees whitespace or control bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def clean_text(text: str) -> str:
    """open_clip's 'lower' cleaning: ftfy fix, HTML-unescape twice, collapse whitespace, lower-case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


def clean_text_transformers(text: str) -> str:
    """transformers 4.45's CLIPTokenizer with ftfy installed: ftfy fix, collapse whitespace, lower-case.

    No HTML unescaping (unlike open_clip): '&amp;' stays three tokens. Newer transformers clean
    differently (NFC + lower-case); FaceT5's numbers were made with the official pin, 4.45.2.
    """
    return " ".join(ftfy.fix_text(text).split()).lower()


@dataclass(frozen=True)
class Cleaning:
    """How a CLIP tokenizer variant prepares text: cleaning, the special tokens' spelling in text, padding."""

    clean: Callable[[str], str]
    start: str
    end: str
    pad_with_end: bool  # transformers pads with the end token, open_clip with 0


OPEN_CLIP = Cleaning(clean_text, START_TOKEN, END_TOKEN, pad_with_end=False)
TRANSFORMERS = Cleaning(clean_text_transformers, "<|startoftext|>", "<|endoftext|>", pad_with_end=True)


class ClipTokenizer:
    """Turns prompts into (N, 77) token ids: start token, BPE ids, end token, padding (0, or the end token)."""

    def __init__(self, bpe_path: Path = BPE_PATH, context_length: int = 77, cleaning: Cleaning = OPEN_CLIP):
        try:
            lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        except OSError as exc:
            raise FaceCLIPError(
                f"The CLIP tokenizer vocabulary {bpe_path} cannot be read ({exc}). "
                "Reinstall comfyui-faceclip: the file ships with the package."
            ) from exc
        merges = [tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1]]
        byte_chars = list(_bytes_to_unicode().values())
        vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [START_TOKEN, END_TOKEN]
        if len(vocab) != VOCAB_SIZE or len(set(vocab)) != VOCAB_SIZE:
            # a truncated or substituted vocabulary would silently give wrong ids for every prompt
            raise FaceCLIPError(
                f"The CLIP tokenizer vocabulary {bpe_path} has {len(set(vocab))} distinct tokens, expected {VOCAB_SIZE}. "
                "The file is damaged: reinstall comfyui-faceclip."
            )
        self.cleaning = cleaning
        # the special tokens are spelled as this variant recognises them in text; their ids do not change
        vocab[-2:] = [cleaning.start, cleaning.end]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.bpe_ranks = {merge: i for i, merge in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.context_length = context_length
        self.start_id = self.encoder[cleaning.start]
        self.end_id = self.encoder[cleaning.end]
        self.vocab_size = len(vocab)
        self._word_pattern = regex.compile(
            rf"{regex.escape(cleaning.start)}|{regex.escape(cleaning.end)}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE,
        )
        self._bpe_cache: dict[str, str] = {cleaning.start: cleaning.start, cleaning.end: cleaning.end}

    def _bpe(self, token: str) -> str:
        cached = self._bpe_cache.get(token)
        if cached is not None:
            return cached
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        result = " ".join(word)
        self._bpe_cache[token] = result
        return result

    def encode(self, text: str) -> list[int]:
        """BPE ids of the cleaned text, without start/end tokens."""
        ids: list[int] = []
        for word in self._word_pattern.findall(self.cleaning.clean(text)):
            chars = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(chars).split(" "))
        return ids

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """(N, context_length) int64 ids; an over-long text keeps its first tokens and ends with the end token."""
        if isinstance(texts, str):
            texts = [texts]
        pad = self.end_id if self.cleaning.pad_with_end else 0
        result = torch.full((len(texts), self.context_length), pad, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.start_id] + self.encode(text) + [self.end_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.end_id
            result[row, : len(ids)] = torch.tensor(ids)
        return result


@lru_cache(maxsize=1)
def default_tokenizer() -> ClipTokenizer:
    """One shared tokenizer per process (building it parses ~49k merges)."""
    return ClipTokenizer()
