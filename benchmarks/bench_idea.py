"""ID-EA training speed: seconds per step and peak memory at batch 1.

CPU: the tiny SDXL-shaped stand-ins of the tests (plumbing cost only). CUDA (when a GPU exists): the real-size
ID-EA modules with a full-size random SDXL UNet from diffusers (pip install diffusers; not a project dependency).
Prints a default run's time (320 steps x batch 8) next to plain textual inversion's usual 3000 steps x batch 1.

    python benchmarks/bench_idea.py [--steps 10]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from faceclip_core.idea import AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, load_names, prepare_training_set  # noqa: E402

IDEA_STEPS, IDEA_BATCH = 320, 8
TI_STEPS, TI_BATCH = 3000, 1  # plain textual inversion's usual budget (diffusers' example script)


def time_steps(trainer: IDEATrainer, steps: int, sync=lambda: None) -> float:
    trainer.step(trainer.sample_batch())  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(trainer.sample_batch())
    sync()
    return (time.perf_counter() - start) / steps


def report(label: str, seconds: float, peak_mib: float) -> None:
    print(f"{label}: {seconds:.4f} s/step at batch 1, peak memory {peak_mib:.0f} MiB")
    print(f"  ID-EA default ({IDEA_STEPS} steps x batch {IDEA_BATCH}): ~{seconds * IDEA_STEPS * IDEA_BATCH / 60:.1f} min; "
          f"plain TI ({TI_STEPS} steps x batch {TI_BATCH}): ~{seconds * TI_STEPS * TI_BATCH / 60:.1f} min")


def bench_cpu(steps: int) -> None:
    from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, make_models, make_photos

    encoder, unet, vae = make_models()
    for module in (encoder, unet, vae):
        module.requires_grad_(False)
    settings = TrainConfig(batch_size=1, micro_batch=1, resolution=64)
    data = prepare_training_set(make_photos(3, 64), ColourFaceEmbedder(), vae, settings.resolution)
    trainer = IDEATrainer(encoder, unet, AnchorBank.from_names(load_names(), encoder), data, TINY_CONFIG, settings)
    seconds = time_steps(trainer, steps)
    report(f"CPU, tiny stand-ins ({torch.get_num_threads()} threads)", seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


class DiffusersSDXLDenoiser:
    """A full-size SDXL UNet (random weights) behind the Denoiser interface, in fp16."""

    def __init__(self, device: str):
        from diffusers import UNet2DConditionModel

        self.unet = UNet2DConditionModel(
            sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
        ).to(device, torch.float16).requires_grad_(False)
        self.unet.enable_gradient_checkpointing()
        self.unet.train()  # diffusers checkpoints only in training mode; the UNet has no dropout at rate > 0

    def __call__(self, x_t, t, context, pooled):
        time_ids = torch.tensor([[1024, 1024, 0, 0, 1024, 1024]], device=x_t.device, dtype=torch.float16).expand(len(x_t), -1)
        return self.unet(x_t.half(), t, context.half(), added_cond_kwargs={"text_embeds": pooled.half(), "time_ids": time_ids}).sample.float()


def bench_cuda(steps: int) -> None:
    from idea_stand_ins import ColourFaceEmbedder, TinyPromptEncoder, make_photos

    device = "cuda"
    encoder = TinyPromptEncoder(768, 1280).to(device).requires_grad_(False)  # text encoders are a small share of a step
    settings = TrainConfig(batch_size=1, micro_batch=1, resolution=1024)
    data = prepare_training_set(make_photos(2, 64), ColourFaceEmbedder(), lambda x: torch.randn(len(x), 4, 128, 128), 64)
    torch.cuda.reset_peak_memory_stats()
    trainer = IDEATrainer(encoder, DiffusersSDXLDenoiser(device), AnchorBank.from_names(load_names(), encoder), data,
                          IDEAConfig(), settings, device)
    seconds = time_steps(trainer, steps, torch.cuda.synchronize)
    report(f"CUDA {torch.cuda.get_device_name()}, full-size SDXL UNet fp16, 1024 px", seconds, torch.cuda.max_memory_allocated() / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    bench_cpu(args.steps)
    if torch.cuda.is_available():
        bench_cuda(args.steps)
    else:
        print("CUDA: no GPU here, full-size path not run")


if __name__ == "__main__":
    main()
