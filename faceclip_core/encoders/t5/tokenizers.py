"""The two tokenizers FaceT5 is called with, offline: T5-v1.1's (FLUX's tokenizer_2) and CLIP-L's.

T5: the Hugging Face `tokenizers` library (what transformers' T5TokenizerFast runs) on FLUX.1-dev's
`tokenizer_2/tokenizer.json`, carried gzipped in faceclip_core/data (Apache-2.0, see the licence
beside it): `</s>` appended, truncated to 512 tokens with `</s>` kept last, padded with id 0, as the
official call `tokenizer_2(text, max_length=512, padding="max_length", truncation=True)` gives.
CLIP: our BPE with transformers 4.45's cleaning, padded with the end token (FLUX's tokenizer_1).
"""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch

from ...errors import FaceCLIPError
from ..tokenizer import TRANSFORMERS, ClipTokenizer

T5_TOKENIZER_PATH = Path(__file__).parents[2] / "data" / "t5_tokenizer.json.gz"
T5_PAD_ID = 0


class T5Tokenizer:
    def __init__(self, path: Path = T5_TOKENIZER_PATH, context_length: int = 512):
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise FaceCLIPError(
                "FaceT5 needs the `tokenizers` package (ComfyUI already has it): pip install tokenizers"
            ) from exc
        try:
            spec = gzip.open(path).read().decode("utf-8")
            self._tokenizer = Tokenizer.from_str(spec)
            self._counter = Tokenizer.from_str(spec)  # untruncated, unpadded: to count what a prompt loses
        except Exception as exc:  # OSError, gzip/UTF-8 errors, or the tokenizers library's own exception
            raise FaceCLIPError(
                f"The T5 tokenizer file {path} cannot be read ({exc}). Reinstall comfyui-faceclip: the file ships with the package."
            ) from exc
        self._tokenizer.enable_truncation(context_length)
        self._tokenizer.enable_padding(length=context_length, pad_id=T5_PAD_ID, pad_token="<pad>")
        self.context_length = context_length

    def dropped_tokens(self, text: str) -> int:
        """How many of the text's tokens (`</s>` included) do not fit in context_length."""
        return max(0, len(self._counter.encode(text).ids) - self.context_length)

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """(N, context_length) int64 ids."""
        if isinstance(texts, str):
            texts = [texts]
        encodings = self._tokenizer.encode_batch(list(texts))
        return torch.tensor([e.ids for e in encodings], dtype=torch.long)


@lru_cache(maxsize=2)
def t5_tokenizer(context_length: int = 512) -> T5Tokenizer:
    return T5Tokenizer(context_length=context_length)


@lru_cache(maxsize=2)
def clip_tokenizer(context_length: int = 77) -> ClipTokenizer:
    return ClipTokenizer(context_length=context_length, cleaning=TRANSFORMERS)
