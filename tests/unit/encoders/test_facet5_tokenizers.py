"""FaceT5's tokenizers against the official tokenization (transformers 4.45.2 on FLUX.1-dev's tokenizer files).

The ids were recorded by tests/parity/official_facet5_tokenization.py (HTML entities, curly quotes,
full-width letters, ligatures, odd whitespace, mojibake, special-token spellings, over-long prompts).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceclip_core.encoders.t5.tokenizers import t5_tokenizer, clip_tokenizer
from faceclip_core.encoders.tokenizer import ClipTokenizer

RECORDED = json.loads((Path(__file__).parents[2] / "parity" / "facet5_tokenization.json").read_text())
CASES = RECORDED["cases"]


def test_recorded_with_the_official_pin():
    assert RECORDED["made_with"]["transformers"] == "4.45.2"
    assert RECORDED["made_with"]["t5_tokenizer_class"] == "T5TokenizerFast"


@pytest.mark.parametrize("case", CASES, ids=[c["prompt"][:24] for c in CASES])
def test_t5_ids_equal_the_official(case):
    assert t5_tokenizer()([case["prompt"]])[0].tolist() == case["t5"]


@pytest.mark.parametrize("case", CASES, ids=[c["prompt"][:24] for c in CASES])
def test_clip_ids_equal_the_official(case):
    assert clip_tokenizer()([case["prompt"]])[0].tolist() == case["clip"]


def test_batches_equal_single_prompts():
    prompts = [c["prompt"] for c in CASES]
    assert t5_tokenizer()(prompts).tolist() == [c["t5"] for c in CASES]
    assert clip_tokenizer()(prompts).tolist() == [c["clip"] for c in CASES]


def test_shapes_padding_and_truncation():
    long = next(c for c in CASES if len(c["prompt"]) > 2000)
    t5 = t5_tokenizer()([long["prompt"], "a cat"])
    assert t5.shape == (2, 512)
    assert t5[0, -1] == 1 and (t5[0] != 0).all()  # truncated: '</s>' kept last, no padding
    end = t5[1].tolist().index(1)  # 'a cat' '</s>', then pad id 0 to 512
    assert 0 < end < 5 and (t5[1, end + 1 :] == 0).all() and (t5[1, :end] != 0).all()
    clip = clip_tokenizer()(["a cat"])
    assert clip[0, 0] == 49406 and (clip[0, 3:] == 49407).all()  # transformers pads with the end token


def test_the_open_clip_cleaning_would_differ():
    """FaceCLIP-SDXL's variant (open_clip) unescapes HTML and pads with 0: wrong for FaceT5's CLIP-L."""
    entity = next(c for c in CASES if "&amp;" in c["prompt"])
    assert ClipTokenizer()([entity["prompt"]])[0].tolist() != entity["clip"]
