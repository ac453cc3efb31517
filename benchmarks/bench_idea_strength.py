"""What ID-EA Apply's strength does to the adapter's share, measured on the test stand-ins (tests/support/idea_stand_ins.py).

Trains the default settings for 40 steps at the stand-ins' size (as tests/unit/idea/test_idea_training.py does), then for each
strength prints, over the 10 prompt templates with the learnt tokens:
  share    = |adapter update| / (|adapter update| + |token change|), the adapter's share of the change of the
             conditioning the UNet sees (the tokens' change from the anchor does not depend on the strength);
  update   = |adapter update| / |context|, how far the adapter moves the context.

    python benchmarks/bench_idea_strength.py [--steps 40]    # about a minute on 2 CPU cores
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from faceclip_core.idea import AnchorBank, IDEATrainer, TrainConfig, load_names, prepare_training_set  # noqa: E402
from faceclip_core.idea.templates import TEMPLATES  # noqa: E402
from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, make_models, make_photos  # noqa: E402

STRENGTHS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps at the default settings (default 40)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # toy-sized ops only lose from threads
    encoder, unet, vae = make_models()
    for module in (encoder, unet, vae):
        module.requires_grad_(False)
    config = replace(TrainConfig(), steps=args.steps, resolution=32, micro_batch=8)
    data = prepare_training_set(make_photos(), ColourFaceEmbedder(), vae, config.resolution)
    trainer = IDEATrainer(encoder, unet, AnchorBank.from_names(load_names(), encoder), data, TINY_CONFIG, config,
                          base_fingerprint="tiny")
    start_l, start_g = trainer.anchor.initial_tokens(2)
    trainer.run()
    with torch.no_grad():
        plain, _ = encoder.encode(TEMPLATES, start_l, start_g)
        context, _ = encoder.encode(TEMPLATES, trainer.tokens_l, trainer.tokens_g)
        identity = trainer.enhancer(trainer.data.mean_face.view(1, -1), trainer.anchors)
        by_tokens = (context - plain).norm().item()
        print(f"{args.steps} default steps; gamma {trainer.adapter.gamma.item():.4f}, "
              f"gate at strength 1 {trainer.adapter.gate(1.0).item():.4f}; token change / |context| "
              f"{by_tokens / context.norm().item():.4f}")
        print("strength  share    update/|context|")
        for strength in STRENGTHS:
            by_adapter = (trainer.adapter(context, identity, strength) - context).norm().item()
            share = by_adapter / (by_adapter + by_tokens)
            print(f"{strength:8.2f}  {share:.4f}   {by_adapter / context.norm().item():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
