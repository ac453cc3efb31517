"""The offline CLIP tokenizer: ids as open_clip's SimpleTokenizer gives them (values checked against it)."""
from __future__ import annotations

import gzip

import pytest

from faceclip_core.errors import FaceCLIPError
from faceclip_core.encoders.tokenizer import BPE_PATH, ClipTokenizer, clean_text, default_tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return default_tokenizer()


def test_vocabulary_is_complete(tokenizer):
    assert tokenizer.vocab_size == 49408
    assert (tokenizer.start_id, tokenizer.end_id) == (49406, 49407)


def test_identity_prefix_ids_and_id_position(tokenizer):
    ids = tokenizer("Photo of a id person.")[0]
    assert ids[:9].tolist() == [49406, 1125, 539, 320, 1014, 2533, 269, 49407, 0]
    assert tokenizer.encode("id") == [1014]
    assert ids.tolist().index(1014) == 4


@pytest.mark.parametrize(
    "text, expected",
    [
        ("worst quality", [49406, 5719, 3027, 49407]),
        ("A &amp; B", [49406, 320, 261, 321, 49407]),  # HTML entities are unescaped
        ("A   &amp;amp;   B\n", [49406, 320, 261, 321, 49407]),  # twice, and whitespace collapsed
    ],
)
def test_known_ids(tokenizer, text, expected):
    ids = tokenizer(text)[0].tolist()
    assert ids[: len(expected)] == expected
    assert set(ids[len(expected):]) == {0}  # zero padding


def test_cleaning_matches_open_clip_lower():
    assert clean_text("  Caf\u00c3\u00a9 &lt;b&gt;  BIG\tword ") == "café <b> big word"


def test_truncation_keeps_the_end_token(tokenizer):
    ids = tokenizer("Photo of a id person. " + "word " * 100)[0]
    assert ids.shape == (77,)
    assert ids[-3:].tolist() == [2653, 2653, 49407]
    assert (ids != 0).all()


def test_batch_shape(tokenizer):
    assert tokenizer(["a", "b c", ""]).shape == (3, 77)


def test_damaged_vocabulary_fails_loudly(tmp_path):
    lines = gzip.open(BPE_PATH).read().decode("utf-8").split("\n")
    short = tmp_path / "short.txt.gz"
    short.write_bytes(gzip.compress("\n".join(lines[:1000]).encode()))
    with pytest.raises(FaceCLIPError, match=r"has \d+ distinct tokens, expected 49408.*reinstall"):
        ClipTokenizer(bpe_path=short)
    with pytest.raises(FaceCLIPError, match="cannot be read"):
        ClipTokenizer(bpe_path=tmp_path / "missing.txt.gz")
