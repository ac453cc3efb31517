"""Record the official FaceT5 tokenization of tricky prompts, to check our tokenizers against it offline.

    python tests/parity/official_facet5_tokenization.py FLUX_TOKENIZERS_DIR OUT.json

Run it in an environment with the official pin, transformers==4.45.2 (+ tokenizers 0.20, sentencepiece,
ftfy). FLUX_TOKENIZERS_DIR holds FLUX.1-dev's `tokenizer/` and `tokenizer_2/` folders. The tokenizers are
loaded and called exactly as the official FaceT5FluxWrapper does (CLIPTokenizer for tokenizer/,
AutoTokenizer for tokenizer_2/, max_length = model_max_length, padding="max_length", truncation=True).
tests/unit/encoders/test_facet5_tokenizers.py compares our tokenizers with the recorded ids (tests/parity/facet5_tokenization.json).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

PROMPTS = [
    "A woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau",
    "salt &amp; pepper, rock &amp;amp; roll &lt;3",
    "\u201cCurly quotes\u201d and \u2018single\u2019 ones, Don't stop",
    "\uff26\uff55\uff4c\uff4c\uff0d\uff57\uff49\uff44\uff54\uff48 letters and the \ufb01ne \ufb02owers",
    "  spaces   everywhere\tand\ttabs\nand newlines  ",
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve co\u00f6perate, \u00c5ngstr\u00f6m",
    "mojibake: it\u00e2\u20ac\u2122s a test",
    "emoji \U0001F600\U0001F3A8 and CJK \u4eba\u7269\u8096\u50cf \u5199\u771f",
    "a photo <|endoftext|> of a cat </s> with <pad>",
    "numbers 1234567 and 3.14159, 50% off, $20",
    "",
    "UPPER CASE PROMPT WITH HDR, 8K, DSLR",
    "a very detailed portrait photograph of a person in soft window light " * 12,
    "a very detailed portrait photograph of a person in soft window light " * 45,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flux_tokenizers", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    import transformers
    from transformers import AutoTokenizer, CLIPTokenizer

    clip = CLIPTokenizer.from_pretrained(str(args.flux_tokenizers), subfolder="tokenizer")
    t5 = AutoTokenizer.from_pretrained(str(args.flux_tokenizers), subfolder="tokenizer_2")

    def ids(tokenizer, text):
        return tokenizer(text, max_length=tokenizer.model_max_length, padding="max_length", truncation=True,
                         return_length=False, return_overflowing_tokens=False).input_ids

    records = [{"prompt": p, "clip": ids(clip, p), "t5": ids(t5, p)} for p in PROMPTS]
    meta = {"transformers": transformers.__version__, "t5_tokenizer_class": type(t5).__name__,
            "clip_tokenizer_class": type(clip).__name__}
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)  # one prompt per line
    args.out.write_text(f'{{"made_with": {json.dumps(meta)},\n"cases": [\n{lines}\n]}}\n')
    print(f"wrote {args.out}: {len(records)} prompts, {meta}")


if __name__ == "__main__":
    main()
