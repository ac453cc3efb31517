"""Run the official FaceCLIP encoder (a checkout of github.com/bytedance/FaceCLIP) offline on random weights.

    python tests/parity/official_reference.py OFFICIAL_CHECKOUT OUT_DIR [--seed N]

Writes OUT_DIR/face_clip_encoder.pt (random weights in the released format: 16-bit values, keys with a
'model.' prefix) and OUT_DIR/reference.safetensors (the official outputs, fp32) for the cases in
CASES. tests/parity/test_official_parity.py compares our encoder with these numbers.

Nothing of the official code is copied here: it is imported from the checkout. Its download steps are
replaced by stubs (MetaCLIP weights, the SDXL tokenizer it never uses), and so are timm, torchvision,
transformers and the pip open_clip, none of which its encoder's forward needs. Needs omegaconf.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from reference_files import parse_args, save_reference  # noqa: E402

# (face id or None, prompt) per row; one official call per case, as its pipeline does
LONG_PROMPT = "a very detailed portrait photograph of a person " * 12
CASES = {
    "faces": [(0, "a woman wearing a blue denim shirt, on a rocky desert plateau"), (0, LONG_PROMPT), (1, "a man in a suit, studio light")],
    "no_face": [(None, "nude, worst quality, low quality, blurry"), (None, LONG_PROMPT)],
    "mixed": [(1, "a man reading a book in a cafe"), (None, "worst quality")],
}
FACE_SIZE = 448


class _Anything(type):
    """Metaclass of stand-ins: any attribute of the class is the class itself."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return cls


class Stub(metaclass=_Anything):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return None


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Stub


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves a stand-in module for every import under the given top-level names."""

    def __init__(self, roots: set[str]):
        self.roots = roots

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _install_stubs() -> None:
    sys.meta_path.insert(0, _StubFinder({"timm", "torchvision", "transformers", "open_clip", "bson", "diffusers"}))
    # the three timm helpers the face ViT and fusion blocks really call
    layers = importlib.import_module("timm.models.layers")
    layers.DropPath = lambda p: nn.Identity()  # identity in eval mode, which is all we run
    layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
    layers.trunc_normal_ = nn.init.trunc_normal_


def build_official(checkout: Path) -> nn.Module:
    sys.path[:0] = [str(checkout), str(checkout / "core/face_clip/GroundingDINO")]
    _install_stubs()
    face_clip = importlib.import_module("core.face_clip.face_clip")
    # MetaCLIP download: random weights are loaded over everything afterwards anyway
    face_clip.TextImageBranch._init_text_tower_from_pretrained = lambda self, name, pretrained: None

    def branch(width: int, text_model: str) -> nn.Module:
        # the configs' values, with cast_dtype float32: fp32 parity is defined on the same code in fp32
        return face_clip.TextImageBranch(
            text_embed_dim=width, init_logit_bias=-10, cast_dtype="torch.float32",
            text_model_name=text_model, pretrained="metaclip_fullcc", face_model_path="",
        )

    wrapper = face_clip.FaceCLIP_L_G_Wrapper.__new__(face_clip.FaceCLIP_L_G_Wrapper)
    nn.Module.__init__(wrapper)
    wrapper.face_clip_l = branch(768, "ViT-L-14-quickgelu")
    wrapper.face_clip_g = branch(1280, "ViT-bigG-14")
    return wrapper.eval()


def randomize_(model: nn.Module, seed: int) -> None:
    """Random weights of a sane scale everywhere, BatchNorm statistics included (they matter in eval)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.ndim >= 2:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (tensor.shape[-1] ** -0.5))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1 + (1.0 if "weight" in name or "gamma" in name else 0.0))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    torch.set_grad_enabled(False)

    model = build_official(args.checkout.resolve())
    randomize_(model, args.seed)
    # the release is 16-bit: round once, so both implementations run on identical values
    release = {f"model.{k}": v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(release, args.out / "face_clip_encoder.pt")
    model.load_state_dict({k[len("model."):]: v for k, v in release.items()})

    gen = torch.Generator().manual_seed(args.seed + 1)
    faces = torch.rand(2, 3, FACE_SIZE, FACE_SIZE, generator=gen)
    outputs = {"faces": faces}
    cwd = os.getcwd()
    os.chdir(args.checkout)  # the official code opens its configs by relative path
    try:
        for case, rows in CASES.items():
            images = [faces[i] if i is not None else torch.zeros_like(faces[0]) for i, _ in rows]
            mask = torch.tensor([i is not None for i, _ in rows])
            result = model(images, mask, [p for _, p in rows], device="cpu")
            outputs[f"{case}.context"] = result.embeddings.float().contiguous()
            outputs[f"{case}.pooled"] = result.pooled[0].float().contiguous()
    finally:
        os.chdir(cwd)

    save_reference(args.out, outputs, CASES, "face_clip_encoder.pt")


if __name__ == "__main__":
    main()
