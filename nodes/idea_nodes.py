"""ID-EA nodes (V3 schema): train an identity from a few photos with the loaded SDXL, then apply it to any conditioning."""
from __future__ import annotations

from typing import Any

import torch
from .v3 import io, node_schema
from comfy_execution.graph_utils import ExecutionBlocker

from faceclip_core.face import FaceAnalyzer
from faceclip_core.idea import TrainConfig
from faceclip_core.idea.files import IDEAWeights, load_idea_weights

from .checked_node import CheckedNode
from .checks import name_problem, require, require_conditioning
from .face_nodes import ANALYZER_SOURCE, FaceAnalyzerType
from .idea_logic import (PREVIEW_PROMPTS, apply_idea, idea_file_path, idea_files, preview_lines, sample_previews,
                         train_identity, training_settings)

CATEGORY = "FaceCLIP/ID-EA"
IDEAType = io.Custom("IDEA")
DEFAULTS = TrainConfig()  # the core's defaults (the paper's settings), so the node follows the core when they change
MAX_SEED = 2**31 - 1
STRENGTH_RANGE = (0.0, 3.0)


class IDEATrain(CheckedNode):
    # the name becomes file names: a bad one is refused before the graph loads any model
    INPUT_RULES = {"name": name_problem}

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="IDEATrain",
            display_name="ID-EA Train",
            category=CATEGORY,
            description="Learns a person from a few photos (ID-EA): writes embeddings/NAME.safetensors, usable as "
                        "embedding:NAME in any SDXL prompt, and NAME.idea.safetensors for ID-EA Apply. Resumes if stopped.",
            inputs=[
                io.Image.Input("images", tooltip="2 to 10 photos of the person, one clear face each"),
                FaceAnalyzerType.Input("face_analyzer", tooltip="gives each photo's ArcFace embedding"),
                io.Model.Input("model", tooltip="the SDXL model to train against (it is not changed)"),
                io.Clip.Input("clip", tooltip="the SDXL text encoders of that model; the new tokens are learned in their space"),
                io.Vae.Input("vae", tooltip="the SDXL VAE: encodes the photos to latents once"),
                io.String.Input("name", default="my_person",
                                tooltip="file name (letters, digits, space, - _ .); use it as embedding:NAME"),
                io.Int.Input("steps", default=DEFAULTS.steps, min=1, max=10000, tooltip="optimiser steps (paper: ~320)"),
                io.Int.Input("batch_size", default=DEFAULTS.batch_size, min=1, max=64, tooltip="samples per step (paper: 8)"),
                io.Int.Input("micro_batch", default=DEFAULTS.micro_batch, min=1, max=64,
                             tooltip="samples per pass; 1 fits 12 GB"),
                io.Int.Input("resolution", default=DEFAULTS.resolution, min=64, max=2048, step=64,
                             tooltip="training picture size; 1024 for SDXL (lower only to try the graph out)"),
                # The frontend gives every INT named seed a control widget that starts at "randomize" and cannot be
                # told otherwise; web/idea_train.js sets it to "fixed" on a new node, or a stopped run could not resume.
                io.Int.Input("seed", default=DEFAULTS.seed, min=0, max=MAX_SEED, control_after_generate=True,
                             tooltip="same seed, photos and settings: the same result; a stopped run resumes"),
                io.Boolean.Input("gradient_checkpointing", default=True,
                                 tooltip="recompute the UNet's activations in backward: a 1024 px step fits 12 GB "
                                         "(estimated), steps take ~1.5x as long"),
                io.String.Input("preview_prompts", default=PREVIEW_PROMPTS, multiline=True, optional=True,
                                tooltip="one sample per line after training; <idea> stands for the person"),
                io.Int.Input("preview_steps", default=20, min=0, max=100, optional=True,
                             tooltip="sampling steps per preview; 0: none"),
            ],
            outputs=[
                io.String.Output("prompt_word", display_name="prompt_word", tooltip="'embedding:NAME', to put in prompts"),
                IDEAType.Output("idea", display_name="idea", tooltip="the trained enhancer and adapter, for ID-EA Apply"),
                io.Image.Output("previews", display_name="previews",
                                tooltip="one sample per preview prompt, made with the trained files (none when "
                                        "preview_steps is 0: the nodes it feeds are skipped)"),
            ],
        )

    @classmethod
    def execute(cls, images: torch.Tensor, face_analyzer: FaceAnalyzer, model: Any, clip: Any, vae: Any, name: str,
                steps: int, batch_size: int, micro_batch: int, resolution: int, seed: int,
                gradient_checkpointing: bool = True, preview_prompts: str = PREVIEW_PROMPTS,
                preview_steps: int = 20) -> io.NodeOutput:
        node = "ID-EA Train"
        require(images, torch.Tensor, node, "images", "an IMAGE output (e.g. Load Image or Batch Images)")
        require(face_analyzer, FaceAnalyzer, node, "face_analyzer", ANALYZER_SOURCE)
        settings = training_settings(steps, batch_size, micro_batch, resolution, seed)
        idea = train_identity(images, face_analyzer, model, clip, vae, name, settings, gradient_checkpointing)
        word = f"embedding:{name}"
        prompts = preview_lines(preview_prompts, preview_steps)
        if not prompts:
            return io.NodeOutput(word, idea, ExecutionBlocker(None))  # nodes fed by previews are skipped, no error
        return io.NodeOutput(word, idea, sample_previews(model, clip, vae, idea, prompts, word, resolution, preview_steps, seed))


class IDEALoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="IDEALoader",
            display_name="ID-EA Loader",
            category=CATEGORY,
            description="Loads an ID-EA file (NAME.idea.safetensors in models/embeddings) written by ID-EA Train.",
            inputs=[io.Combo.Input("idea_file", options=idea_files(), tooltip="written by ID-EA Train next to the embedding")],
            outputs=[IDEAType.Output(tooltip="the trained enhancer and adapter, for ID-EA Apply")],
        )

    @classmethod
    def fingerprint_inputs(cls, idea_file: str) -> Any:
        # training again under the same name rewrites the file: load it again then, not the cached one
        if cls.input_problem({"idea_file": idea_file}):
            return idea_file  # not a listed file: execute refuses it with the message
        try:
            stat = idea_file_path(idea_file).stat()
        except OSError:  # not there (any more)
            return idea_file  # execute names the missing file
        return idea_file, stat.st_mtime_ns, stat.st_size

    @classmethod
    def execute(cls, idea_file: str) -> io.NodeOutput:
        return io.NodeOutput(load_idea_weights(idea_file_path(idea_file)))


class IDEAApply(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        low, high = STRENGTH_RANGE
        return node_schema(
            node_id="IDEAApply",
            display_name="ID-EA Apply",
            category=CATEGORY,
            description="Adapts SDXL conditioning toward the trained identity (ID-EA's ID-Adapter). Use on the positive "
                        "prompt, which should contain the embedding:NAME word.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="SDXL conditioning of a prompt that says embedding:NAME"),
                IDEAType.Input("idea", tooltip="from ID-EA Loader or ID-EA Train"),
                io.Float.Input("strength", default=1.0, min=low, max=high, step=0.05,
                               tooltip="how far the conditioning moves toward the identity; 0: unchanged"),
            ],
            outputs=[io.Conditioning.Output(tooltip="the conditioning adapted toward the identity")],
        )

    @classmethod
    def execute(cls, conditioning: list, idea: IDEAWeights, strength: float) -> io.NodeOutput:
        node = "ID-EA Apply"
        require(idea, IDEAWeights, node, "idea", "ID-EA Loader or ID-EA Train")
        require_conditioning(conditioning, node, "conditioning")
        return io.NodeOutput(apply_idea(conditioning, idea, strength))


IDEA_NODES: list[type[io.ComfyNode]] = [IDEATrain, IDEALoader, IDEAApply]
