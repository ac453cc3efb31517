"""API-format graphs (what `POST /prompt` takes): built from the host's core nodes only, and the example
workflows' API twins cut to CPU size."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

API_WORKFLOWS = Path(__file__).resolve().parents[2] / "example_workflows" / "api"


def api_workflow(name: str) -> dict[str, Any]:
    """example_workflows/api/NAME.json"""
    return json.loads((API_WORKFLOWS / f"{name}.json").read_text())


def quick(graph: dict[str, Any], size: int = 64, steps: int = 1) -> dict[str, Any]:
    """The same graph at a CPU-friendly size and step count."""
    graph = copy.deepcopy(graph)
    for node in graph.values():
        inputs = node["inputs"]
        for key in ("width", "height", "target_width", "target_height"):
            if key in inputs:
                inputs[key] = size
        if node["class_type"] == "KSampler":
            inputs["steps"] = steps
    return graph


def core_sdxl_graph(unet_name: str, clip_l_name: str, clip_g_name: str, vae_name: str, *, size: int = 64,
                    steps: int = 1, cfg: float = 5.0, prompt: str = "a photo of a person", negative: str = "",
                    filename_prefix: str = "core_sdxl") -> dict[str, Any]:
    """Text-to-image with separately loaded SDXL parts: UNETLoader + DualCLIPLoader(sdxl) + VAELoader,
    CLIPTextEncodeSDXL for both prompts, KSampler, VAEDecode, SaveImage. Names are dropdown values;
    cfg 1 makes the sampler call the model once per step instead of twice."""

    def encode(text: str) -> dict[str, Any]:
        return {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": ["clip", 0], "width": size, "height": size, "crop_w": 0, "crop_h": 0,
            "target_width": size, "target_height": size, "text_g": text, "text_l": text}}

    return {
        "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": unet_name, "weight_dtype": "default"}},
        "clip": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": clip_l_name, "clip_name2": clip_g_name, "type": "sdxl"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": vae_name}},
        "positive": encode(prompt),
        "negative": encode(negative),
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["unet", 0], "seed": 0, "steps": steps, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["positive", 0], "negative": ["negative", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": filename_prefix}},
    }
