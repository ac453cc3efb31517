"""A test-only ComfyUI node pack, linked into the test host beside the pack (tests/host/server.py): the
conditioning probe writes what passes through it to output/probe/LABEL.safetensors, so a host test can inspect the
conditioning that reaches the sampler, not only that the graph ran."""
import json
import os

import torch
from safetensors.torch import save_file

import folder_paths


class FaceCLIPTestConditioningProbe:
    """Passes CONDITIONING through unchanged; writes each entry's tensors (context, pooled_output, mask) and its
    other keys that are plain values (strength, start/end percent, mask options, guidance, SDXL sizes)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "label": ("STRING", {"default": "probe"})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "probe"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def probe(self, conditioning, label):
        tensors, keys = {}, []
        for i, (context, options) in enumerate(conditioning):
            tensors[f"{i}.context"] = context.detach().float().cpu().clone()
            plain = {}
            for name, value in options.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{i}.{name}"] = value.detach().float().cpu().clone()  # entries may share a tensor
                elif isinstance(value, (bool, int, float, str)) or value is None:
                    plain[name] = value
            keys.append(plain)
        folder = os.path.join(folder_paths.get_output_directory(), "probe")
        os.makedirs(folder, exist_ok=True)
        save_file(tensors, os.path.join(folder, f"{label}.safetensors"), metadata={"keys": json.dumps(keys)})
        return {"ui": {"text": [label]}, "result": (conditioning,)}


NODE_CLASS_MAPPINGS = {"FaceCLIPTestConditioningProbe": FaceCLIPTestConditioningProbe}
