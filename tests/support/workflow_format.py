"""The two formats of a ComfyUI graph, and the pack's example workflows written in both.

UI format (what the frontend saves and the template browser lists: `example_workflows/NAME.json`) holds nodes
with positions, link inputs and `widgets_values`; API format (`example_workflows/api/NAME.json`, what
`POST /prompt` takes) maps node ids to `class_type` and named inputs. `ui_to_api` converts the first
into the second from each node's input declaration, so a test can prove the two files agree.

    python tests/support/workflow_format.py      # (re)writes the example workflows in both formats
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

# The host's core nodes these workflows use: link inputs and outputs as (name, type), widgets in
# the frontend's order (a seed widget is followed by its "control after generate" value).
CORE_NODES: dict[str, dict[str, list]] = {
    "UNETLoader": {"inputs": [], "widgets": ["unet_name", "weight_dtype"], "outputs": [("MODEL", "MODEL")]},
    "VAELoader": {"inputs": [], "widgets": ["vae_name"], "outputs": [("VAE", "VAE")]},
    "CheckpointLoaderSimple": {"inputs": [], "widgets": ["ckpt_name"],
                               "outputs": [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")]},
    "CLIPTextEncode": {"inputs": [("clip", "CLIP")], "widgets": ["text"], "outputs": [("CONDITIONING", "CONDITIONING")]},
    "LoadImage": {"inputs": [], "widgets": ["image", "upload"], "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")]},
    "EmptyLatentImage": {"inputs": [], "widgets": ["width", "height", "batch_size"], "outputs": [("LATENT", "LATENT")]},
    "KSampler": {
        "inputs": [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent_image", "LATENT")],
        "widgets": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
        "outputs": [("LATENT", "LATENT")],
    },
    "ImageBatch": {"inputs": [("image1", "IMAGE"), ("image2", "IMAGE")], "widgets": [], "outputs": [("IMAGE", "IMAGE")]},
    "VAEDecode": {"inputs": [("samples", "LATENT"), ("vae", "VAE")], "widgets": [], "outputs": [("IMAGE", "IMAGE")]},
    "SaveImage": {"inputs": [("images", "IMAGE")], "widgets": ["filename_prefix"], "outputs": []},
    "PreviewImage": {"inputs": [("images", "IMAGE")], "widgets": [], "outputs": []},
    "PreviewAny": {"inputs": [("source", "*")], "widgets": [], "outputs": []},
    "EmptySD3LatentImage": {"inputs": [], "widgets": ["width", "height", "batch_size"], "outputs": [("LATENT", "LATENT")]},
    "FluxGuidance": {"inputs": [("conditioning", "CONDITIONING")], "widgets": ["guidance"],
                     "outputs": [("CONDITIONING", "CONDITIONING")]},
    "ModelSamplingFlux": {"inputs": [("model", "MODEL")], "widgets": ["max_shift", "base_shift", "width", "height"],
                          "outputs": [("MODEL", "MODEL")]},
    "ConditioningCombine": {"inputs": [("conditioning_1", "CONDITIONING"), ("conditioning_2", "CONDITIONING")],
                            "widgets": [], "outputs": [("CONDITIONING", "CONDITIONING")]},
    "ConditioningSetMask": {"inputs": [("conditioning", "CONDITIONING"), ("mask", "MASK")],
                            "widgets": ["strength", "set_cond_area"], "outputs": [("CONDITIONING", "CONDITIONING")]},
    "ConditioningSetAreaStrength": {"inputs": [("conditioning", "CONDITIONING")], "widgets": ["strength"],
                                    "outputs": [("CONDITIONING", "CONDITIONING")]},
    "ConditioningSetTimestepRange": {"inputs": [("conditioning", "CONDITIONING")], "widgets": ["start", "end"],
                                     "outputs": [("CONDITIONING", "CONDITIONING")]},
}
# This pack's nodes as saved workflows see them. A UI workflow stores widget values by position, so a widget
# renamed, added in the middle or reordered would shift every saved value: tests/unit/nodes/test_nodes.py checks that the
# V3 schemas declare exactly this (where comfy_api can be imported), and the builder writes from it.
PACK_NODES: dict[str, dict[str, list]] = {
    "FaceCLIPLoader": {"inputs": [], "widgets": ["encoder_name", "dtype"], "outputs": [("FACECLIP", "FACECLIP")]},
    "FaceCLIPTextEncodeSDXL": {
        "inputs": [("faceclip", "FACECLIP"), ("face", "FACE")],
        "widgets": ["text", "width", "height", "crop_w", "crop_h", "target_width", "target_height", "multiple_faces",
                    "one_prompt_per_line", "on_no_face"],
        "outputs": [("CONDITIONING", "CONDITIONING"), ("report", "STRING")],
    },
    "FaceCLIPInsightFaceLoader": {"inputs": [], "widgets": ["pack", "provider", "runtime"],
                                  "outputs": [("FACE_ANALYZER", "FACE_ANALYZER")]},
    "FaceCLIPDetectFace": {"inputs": [("analyzer", "FACE_ANALYZER"), ("image", "IMAGE")],
                           "widgets": ["pick", "index", "on_no_face"],
                           "outputs": [("face", "FACE"), ("preview", "IMAGE"), ("crops", "IMAGE"), ("report", "STRING")]},
    "FaceIDSimilarity": {"inputs": [("analyzer", "FACE_ANALYZER"), ("reference", "FACE"), ("images", "IMAGE")], "widgets": [],
                         "outputs": [("scores", "FLOAT"), ("mean", "FLOAT"), ("summary", "STRING")]},
    "IDEATrain": {
        "inputs": [("images", "IMAGE"), ("face_analyzer", "FACE_ANALYZER"), ("model", "MODEL"), ("clip", "CLIP"), ("vae", "VAE")],
        "widgets": ["name", "steps", "batch_size", "micro_batch", "resolution", "seed", "control_after_generate",
                    "gradient_checkpointing", "preview_prompts", "preview_steps"],
        "outputs": [("prompt_word", "STRING"), ("idea", "IDEA"), ("previews", "IMAGE")],
    },
    "IDEALoader": {"inputs": [], "widgets": ["idea_file"], "outputs": [("IDEA", "IDEA")]},
    "IDEAApply": {"inputs": [("conditioning", "CONDITIONING"), ("idea", "IDEA")], "widgets": ["strength"],
                  "outputs": [("CONDITIONING", "CONDITIONING")]},
    "FaceT5Loader": {"inputs": [], "widgets": ["encoder_name", "t5", "dtype"], "outputs": [("FACET5", "FACET5")]},
    "FaceT5TextEncodeFlux": {"inputs": [("facet5", "FACET5"), ("face", "FACE")],
                             "widgets": ["text", "multiple_faces", "one_prompt_per_line", "on_no_face"],
                             "outputs": [("CONDITIONING", "CONDITIONING"), ("report", "STRING")]},
    "FaceCLIPIdentityStrength": {"inputs": [("face_conditioning", "CONDITIONING"), ("no_face_conditioning", "CONDITIONING")],
                                 "widgets": ["strength"], "outputs": [("CONDITIONING", "CONDITIONING")]},
    "FaceCLIPFaceRegions": {"inputs": [("face_a", "FACE"), ("face_b", "FACE"), ("image", "IMAGE")],
                            "widgets": ["width", "height", "layout"],
                            "outputs": [("mask_a", "MASK"), ("mask_b", "MASK"), ("preview", "IMAGE")]},
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}  # and lists (V1 combos); any other type is a link
# widget values the frontend keeps but the API never sends, with what the frontend writes for them
UI_ONLY_WIDGETS = {"control_after_generate": "fixed", "upload": "image"}
# widgets added to the pack's nodes later, at the end: the value a workflow has unless it sets one (today's behaviour)
WIDGET_DEFAULTS = {"on_no_face": "error"}

# The room each node gets, (width, height) of its body: at least what frontends 1.27.10 and 1.58.1 draw it with, the
# latter also in its Vue nodes mode, where most nodes are taller, with room for the image that Load Image, Save Image
# and Preview Image show and the text Preview Any shows. tests/host/test_host_browser.py checks each against the
# frontend's own minimum size for the node as the pack declares it today, and that no drawn node overlaps another.
NODE_SIZES: dict[str, tuple[int, int]] = {
    "UNETLoader": (300, 90), "VAELoader": (300, 62), "CheckpointLoaderSimple": (300, 102), "CLIPTextEncode": (400, 200),
    "LoadImage": (320, 340), "EmptyLatentImage": (300, 118), "KSampler": (300, 262), "ImageBatch": (225, 54),
    "VAEDecode": (225, 54), "SaveImage": (340, 360), "PreviewImage": (320, 340), "PreviewAny": (300, 200),
    "FaceCLIPLoader": (300, 114), "FaceCLIPTextEncodeSDXL": (400, 394), "FaceCLIPInsightFaceLoader": (300, 138),
    "FaceCLIPDetectFace": (300, 178), "FaceIDSimilarity": (240, 98), "IDEATrain": (400, 438), "IDEALoader": (300, 110),
    "IDEAApply": (300, 106), "FaceT5Loader": (300, 142), "FaceT5TextEncodeFlux": (400, 284), "FluxGuidance": (300, 62),
    "ModelSamplingFlux": (300, 146), "EmptySD3LatentImage": (300, 118),
    "FaceCLIPIdentityStrength": (300, 106), "FaceCLIPFaceRegions": (300, 160), "ConditioningCombine": (240, 54),
    "ConditioningSetMask": (300, 114), "ConditioningSetAreaStrength": (300, 62), "ConditioningSetTimestepRange": (300, 90),
}
DEFAULT_SIZE = (400, 400)  # a node not measured yet: generous room; the browser test shows what it needs
TITLE_HEIGHT = 30  # the frontend draws a node's title bar above its position
GAP = (80, 40)  # between columns (room for the links) and between nodes of a column
ORIGIN = (40, 40 + TITLE_HEIGHT)


def schema_spec(node: Any) -> dict[str, list]:
    """Link inputs, widgets (frontend order) and outputs as a node class declares them (V1 or V3 schema)."""
    declared = node.INPUT_TYPES()
    inputs, widgets = [], []
    for section in ("required", "optional"):
        for name, (kind, *options) in declared.get(section, {}).items():
            is_link = isinstance(kind, str) and kind not in WIDGET_TYPES
            (inputs.append((name, kind)) if is_link else widgets.append(name))
            # the frontend gives an INT named seed, or one that asks for it, a control widget
            if kind == "INT" and (name in ("seed", "noise_seed") or (options and options[0].get("control_after_generate"))):
                widgets.append("control_after_generate")
    names = getattr(node, "RETURN_NAMES", None) or node.RETURN_TYPES
    return {"inputs": inputs, "widgets": widgets, "outputs": list(zip(names, node.RETURN_TYPES))}


def node_spec(class_type: str) -> dict[str, list]:
    """Link inputs, widgets (frontend order) and outputs of a node type this project's workflows use."""
    return CORE_NODES.get(class_type) or PACK_NODES[class_type]


def ui_to_api(ui: dict[str, Any]) -> dict[str, Any]:
    """The API-format graph a UI-format workflow runs as."""
    links = {link[0]: link for link in ui["links"]}
    api = {}
    for node in sorted(ui["nodes"], key=lambda n: n["id"]):
        spec = node_spec(node["type"])
        inputs: dict[str, Any] = {}
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, from_node, from_slot, *_ = links[slot["link"]]
                inputs[slot["name"]] = [str(from_node), from_slot]
        values = node.get("widgets_values", [])
        if len(values) != len(spec["widgets"]):
            raise ValueError(f"node {node['id']} ({node['type']}): {len(values)} widget values for widgets {spec['widgets']}")
        inputs.update({name: value for name, value in zip(spec["widgets"], values) if name not in UI_ONLY_WIDGETS})
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return api


# Where each model file the workflows name comes from: (download URL, the host's model folder), as README's models
# table says. A loader carries its file's entry in `properties.models` ({name, url, directory}), which the frontend's
# missing-models dialog lists with the link when the file is not in that folder.
HF = "https://huggingface.co"
MODEL_SOURCES: dict[str, tuple[str, str]] = {
    "face_clip_encoder.pt": (f"{HF}/ByteDance/FaceCLIP/resolve/main/model/face_clip_encoder.pt", "faceclip"),
    "faceclip_unet.pt": (f"{HF}/ByteDance/FaceCLIP/resolve/main/model/unet.pt", "diffusion_models"),
    "sdxl_vae.safetensors": (f"{HF}/stabilityai/sdxl-vae/resolve/main/sdxl_vae.safetensors", "vae"),
    "sd_xl_base_1.0.safetensors": (
        f"{HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors", "checkpoints"),
    "face_t5_encoder.pt": (f"{HF}/ByteDance/FaceCLIP/resolve/main/model/face_t5_encoder.pt", "faceclip"),
    "faceclip_flux_dit.pt": (f"{HF}/ByteDance/FaceCLIP/resolve/main/model/dit.pt", "diffusion_models"),
    "ae.safetensors": (f"{HF}/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors", "vae"),
}
# Widgets that name a model file a user downloads. Not here: InsightFace Loader's pack (a folder of .onnx files:
# the frontend lists only PyTorch-suffixed files, so it would show an installed pack as missing; its own error
# says where the pack goes) and ID-EA Loader's file (made by ID-EA Train, not downloaded).
MODEL_FILE_WIDGETS = {"unet_name", "vae_name", "ckpt_name", "encoder_name"}


def model_metadata(class_type: str, widgets: list) -> dict[str, list]:
    """`{"models": [{name, url, directory}]}` for a loader's model files, {} for other nodes."""
    names = [value for name, value in zip(node_spec(class_type)["widgets"], widgets) if name in MODEL_FILE_WIDGETS]
    models = [{"name": name, "url": MODEL_SOURCES[name][0], "directory": MODEL_SOURCES[name][1]} for name in names]
    return {"models": models} if models else {}


class Graph:
    """Builds a workflow in UI format, laid out so that data flows left to right and no node covers another.

    A node goes in the column it is given, or further right when one of its inputs comes from that column or
    beyond; within a column, nodes stack by row. Columns are as wide as their widest node (NODE_SIZES)."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list] = []
        self.places: list[tuple[int, int]] = []  # (column, row) of each node

    def add(self, class_type: str, column: int, row: int, **values: Any) -> int:
        """A node; `values` are widget values by name or links given as (node id, output slot)."""
        spec = node_spec(class_type)
        node_id = len(self.nodes) + 1
        inputs = []
        for name, kind in spec["inputs"]:
            link = None
            if name in values:
                from_id, from_slot = values.pop(name)
                link = len(self.links) + 1
                self.links.append([link, from_id, from_slot, node_id, len(inputs), kind])
                self.nodes[from_id - 1]["outputs"][from_slot]["links"].append(link)
                column = max(column, self.places[from_id - 1][0] + 1)
            inputs.append({"name": name, "type": kind, "link": link})
        values = {**{n: WIDGET_DEFAULTS[n] for n in spec["widgets"] if n in WIDGET_DEFAULTS}, **values}
        missing = [n for n in spec["widgets"] if n not in values and n not in UI_ONLY_WIDGETS]
        if missing:
            raise ValueError(f"{class_type} needs widget values for {missing}")
        widgets = [values.pop(name) if name in values else UI_ONLY_WIDGETS[name] for name in spec["widgets"]]
        if values:
            raise ValueError(f"{class_type} has no input {sorted(values)}")
        self.places.append((column, row))
        self.nodes.append({
            "id": node_id, "type": class_type, "pos": [0, 0], "size": list(NODE_SIZES.get(class_type, DEFAULT_SIZE)),
            "flags": {}, "order": node_id - 1, "mode": 0, "inputs": inputs,
            "outputs": [{"name": name, "type": kind, "links": [], "slot_index": slot}
                        for slot, (name, kind) in enumerate(spec["outputs"])],
            "properties": {"Node name for S&R": class_type, **model_metadata(class_type, widgets)},
            "widgets_values": widgets,
        })
        return node_id

    def _lay_out(self) -> None:
        columns = sorted({column for column, _ in self.places})
        x = ORIGIN[0]
        for column in columns:
            members = sorted((row, index) for index, (c, row) in enumerate(self.places) if c == column)
            y = ORIGIN[1]
            for _, index in members:
                node = self.nodes[index]
                node["pos"] = [x, y]
                y += node["size"][1] + TITLE_HEIGHT + GAP[1]
            x += max(self.nodes[index]["size"][0] for _, index in members) + GAP[0]

    def ui(self) -> dict[str, Any]:
        self._lay_out()
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


# File names: README's models table; tests/support/make_tiny_models.py writes tiny models under the same names.
UNET, VAE, ENCODER, FACE_IMAGE = "faceclip_unet.pt", "sdxl_vae.safetensors", "face_clip_encoder.pt", "faceclip_reference.png"
NEGATIVE = ("nude, worst quality, low quality, normal quality, nsfw, abstract, glitch, deformed, mutated, ugly, "
            "disfigured, text, watermark, bad hands, error, jpeg artifacts, blurry, missing fingers, poorly drawn face")
SIZE = {"width": 864, "height": 1152}  # the official pipeline's portrait size
# KSampler's widgets in the FaceCLIP SDXL templates (a fixed seed: a user's changes show against the same noise)
SDXL_SAMPLING = {"seed": 453563, "control_after_generate": "fixed", "steps": 30, "cfg": 5.0, "sampler_name": "dpmpp_2m",
                 "scheduler": "karras", "denoise": 1.0}


# The built-in detector finds and aligns the reference face; a pack with a recogniser only where faces are compared.
DETECTOR_PACK, RECOGNISER_PACK = "yunet", "antelopev2"


def _reference_face(g: Graph, pack: str = DETECTOR_PACK) -> tuple[int, int]:
    """The reference photo and its face, down the first columns: (analyzer, Detect Face) node ids."""
    analyzer = g.add("FaceCLIPInsightFaceLoader", 0, 3, pack=pack, provider="auto", runtime="auto")
    photo = g.add("LoadImage", 0, 4, image=FACE_IMAGE)
    face = g.add("FaceCLIPDetectFace", 1, 0, analyzer=(analyzer, 0), image=(photo, 0), pick="largest", index=0)
    return analyzer, face


def _faceclip_base(g: Graph, prompt: str, one_per_line: bool, batch: int, pack: str = DETECTOR_PACK
                   ) -> tuple[int, int, int]:
    """Shared front of the FaceCLIP workflows: loaders, the reference face, both encodes, sampling."""
    unet = g.add("UNETLoader", 0, 0, unet_name=UNET, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=VAE)
    faceclip = g.add("FaceCLIPLoader", 0, 2, encoder_name=ENCODER, dtype="auto")
    analyzer, face = _reference_face(g, pack)
    sizes = _size_fields(SIZE)
    positive = g.add("FaceCLIPTextEncodeSDXL", 2, 0, faceclip=(faceclip, 0), face=(face, 0), text=prompt, **sizes,
                     multiple_faces="first", one_prompt_per_line=one_per_line)
    negative = g.add("FaceCLIPTextEncodeSDXL", 2, 1, faceclip=(faceclip, 0), text=NEGATIVE, **sizes,
                     multiple_faces="first", one_prompt_per_line=False)
    latent = g.add("EmptyLatentImage", 2, 2, **SIZE, batch_size=batch)
    sampled = g.add("KSampler", 3, 0, model=(unet, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), **SDXL_SAMPLING)
    g.add("PreviewImage", 3, 1, images=(face, 1))  # which face was picked
    image = g.add("VAEDecode", 4, 0, samples=(sampled, 0), vae=(vae, 0))
    return image, analyzer, face


def faceclip_portrait() -> Graph:
    g = Graph()
    image, _, _ = _faceclip_base(g, "A woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau.", False, 1)
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="faceclip")
    return g


def faceclip_prompt_batch() -> Graph:
    g = Graph()
    prompts = "\n".join([
        "A woman reading a book in a sunlit cafe, film photo.",
        "A woman as an astronaut on the moon, cinematic lighting.",
        "A woman hiking in the mountains, golden hour.",
        "Portrait of a woman in a flower garden, soft morning light.",
    ])
    image, _, _ = _faceclip_base(g, prompts, True, 4)
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="faceclip_batch")
    return g


def faceclip_id_similarity() -> Graph:
    g = Graph()
    image, analyzer, face = _faceclip_base(g, "A woman laughing at a birthday party, flash photo.", False, 2,
                                           RECOGNISER_PACK)
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="faceclip_scored")
    score = g.add("FaceIDSimilarity", 5, 1, analyzer=(analyzer, 0), reference=(face, 0), images=(image, 0))
    g.add("PreviewAny", 6, 1, source=(score, 2))
    return g


# FaceT5 + FLUX.1-dev: the release's transformer (model/dit.pt, renamed), FLUX's VAE, the FaceT5 encoder
FLUX_DIT, FLUX_VAE, FACET5_ENCODER = "faceclip_flux_dit.pt", "ae.safetensors", "face_t5_encoder.pt"
FLUX_NEGATIVE = (  # the official FaceT5 script's negative prompt
    "digital painting, 3d render, CGI, cartoon, anime, unreal, stylized, overexposed, glossy skin, wearing mask, "
    "looking away from the camera, wearing glasses, wearing sunglasses, " + NEGATIVE + ", ugly eyes, imperfect eyes, "
    "deformed pupils, deformed iris, bad anatomy")
FLUX_SAMPLING = {**SDXL_SAMPLING, "steps": 50, "cfg": 3.5, "sampler_name": "euler", "scheduler": "simple"}


def faceclip_flux_portrait() -> Graph:
    """The official FaceT5 pipeline as a graph: the face on the positive, the black face on the negative, FLUX
    guidance 1.0 on both and true CFG 3.5 (KSampler's cfg), 50 steps at 864x1152, the sigma shift FLUX.1-dev's
    scheduler derives from the image size (ModelSamplingFlux with its base 0.5 and max 1.15)."""
    from nodes.facet5_logic import T5_FROM_FILE

    g = Graph()
    unet = g.add("UNETLoader", 0, 0, unet_name=FLUX_DIT, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=FLUX_VAE)
    facet5 = g.add("FaceT5Loader", 0, 2, encoder_name=FACET5_ENCODER, t5=T5_FROM_FILE, dtype="auto")
    _, face = _reference_face(g)
    g.add("PreviewImage", 3, 1, images=(face, 1))  # which face was picked
    positive = g.add("FaceT5TextEncodeFlux", 1, 1, facet5=(facet5, 0), face=(face, 0),
                     text="A woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau.",
                     multiple_faces="first", one_prompt_per_line=False)
    negative = g.add("FaceT5TextEncodeFlux", 1, 2, facet5=(facet5, 0), text=FLUX_NEGATIVE,
                     multiple_faces="first", one_prompt_per_line=False)
    positive = g.add("FluxGuidance", 2, 1, conditioning=(positive, 0), guidance=1.0)
    negative = g.add("FluxGuidance", 2, 2, conditioning=(negative, 0), guidance=1.0)
    latent = g.add("EmptySD3LatentImage", 1, 0, **SIZE, batch_size=1)
    shifted = g.add("ModelSamplingFlux", 2, 0, model=(unet, 0), max_shift=1.15, base_shift=0.5, **SIZE)
    sampled = g.add("KSampler", 3, 0, model=(shifted, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), **FLUX_SAMPLING)
    image = g.add("VAEDecode", 4, 0, samples=(sampled, 0), vae=(vae, 0))
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="faceclip_flux")
    return g


# Identity control: two people in one image, identity strength and timing
GROUP_PHOTO, PERSON_B_PHOTO = "faceclip_two_people.jpg", "faceclip_person_b.jpg"
WIDE = {"width": 1216, "height": 832}  # side by side: SDXL's landscape bucket
REGION_PROMPTS = ("A woman in a red coat, laughing, in a sunny park.", "A woman in a denim jacket, smiling, in a sunny park.")
SCENE_PROMPT = "Two women standing side by side in a sunny park, photo, natural light."
BACKGROUND_WEIGHT = 0.3  # the scene prompt's share beside a region's own prompt: 0.3 / (1 + 0.3)


def _size_fields(size: dict[str, int]) -> dict[str, int]:
    """SDXL's size conditioning for an image of `size`, uncropped."""
    return {**size, "crop_w": 0, "crop_h": 0, "target_width": size["width"], "target_height": size["height"]}


def _encoder(g: Graph, class_type: str, column: int, **shared: Any) -> Callable[..., int]:
    """encode(row, text, face=None): a Text Encode node of one prompt in `column`, with or without a face."""
    def encode(row: int, text: str, face: int | None = None) -> int:
        return g.add(class_type, column, row, text=text, multiple_faces="first", one_prompt_per_line=False, **shared,
                     **({} if face is None else {"face": (face, 0)}))
    return encode


def _regions(g: Graph, column: int, people: tuple[int, int], scene: int, masks: tuple[int, int]) -> int:
    """Each person's conditioning on its region mask (the model sees the region's bounds), the scene prompt over
    the whole image at a lower weight, combined into one positive."""
    masked = [g.add("ConditioningSetMask", column, row, conditioning=(person, 0), mask=(regions, slot), strength=1.0,
                    set_cond_area="mask bounds") for row, (person, (regions, slot)) in enumerate(zip(people, masks))]
    background = g.add("ConditioningSetAreaStrength", column, 2, conditioning=(scene, 0), strength=BACKGROUND_WEIGHT)
    both = g.add("ConditioningCombine", column + 1, 0, conditioning_1=(masked[0], 0), conditioning_2=(masked[1], 0))
    return g.add("ConditioningCombine", column + 2, 0, conditioning_1=(both, 0), conditioning_2=(background, 0))


def faceclip_two_people() -> Graph:
    """Two faces of one group photo (picked by index), each encoded with its own prompt and applied to its side of
    the image, split where the photo is split between them; the scene prompt without a face over all of it."""
    g = Graph()
    unet = g.add("UNETLoader", 0, 0, unet_name=UNET, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=VAE)
    faceclip = g.add("FaceCLIPLoader", 0, 2, encoder_name=ENCODER, dtype="auto")
    analyzer = g.add("FaceCLIPInsightFaceLoader", 0, 3, pack=DETECTOR_PACK, provider="auto", runtime="auto")
    photo = g.add("LoadImage", 0, 4, image=GROUP_PHOTO)
    faces = [g.add("FaceCLIPDetectFace", 1, k, analyzer=(analyzer, 0), image=(photo, 0), pick="index", index=k)
             for k in (0, 1)]
    regions = g.add("FaceCLIPFaceRegions", 2, 0, face_a=(faces[0], 0), face_b=(faces[1], 0), image=(photo, 0), **WIDE,
                    layout="split between the faces")
    g.add("PreviewImage", 3, 0, images=(regions, 2))  # which face goes where
    encode = _encoder(g, "FaceCLIPTextEncodeSDXL", 3, faceclip=(faceclip, 0), **_size_fields(WIDE))
    people = (encode(1, REGION_PROMPTS[0], faces[0]), encode(2, REGION_PROMPTS[1], faces[1]))
    scene, negative = encode(3, SCENE_PROMPT), encode(4, NEGATIVE)
    positive = _regions(g, 4, people, scene, ((regions, 0), (regions, 1)))
    latent = g.add("EmptyLatentImage", 6, 1, **WIDE, batch_size=1)
    sampled = g.add("KSampler", 7, 0, model=(unet, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), **SDXL_SAMPLING)
    image = g.add("VAEDecode", 8, 0, samples=(sampled, 0), vae=(vae, 0))
    g.add("SaveImage", 9, 0, images=(image, 0), filename_prefix="faceclip_two_people")
    return g


def faceclip_flux_two_people() -> Graph:
    """FaceT5 + FLUX.1-dev with two reference photos, one person per half; otherwise the official FLUX pipeline
    (black-face negative, FluxGuidance 1.0, true CFG 3.5, euler, 50 steps)."""
    from nodes.facet5_logic import T5_FROM_FILE

    g = Graph()
    unet = g.add("UNETLoader", 0, 0, unet_name=FLUX_DIT, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=FLUX_VAE)
    facet5 = g.add("FaceT5Loader", 0, 2, encoder_name=FACET5_ENCODER, t5=T5_FROM_FILE, dtype="auto")
    analyzer = g.add("FaceCLIPInsightFaceLoader", 0, 3, pack=DETECTOR_PACK, provider="auto", runtime="auto")
    photos = [g.add("LoadImage", 0, row, image=name) for row, name in ((4, FACE_IMAGE), (5, PERSON_B_PHOTO))]
    faces = [g.add("FaceCLIPDetectFace", 1, k, analyzer=(analyzer, 0), image=(photo, 0), pick="largest", index=0)
             for k, photo in enumerate(photos)]
    regions = g.add("FaceCLIPFaceRegions", 2, 0, face_a=(faces[0], 0), face_b=(faces[1], 0), **WIDE,
                    layout="left/right halves")
    g.add("PreviewImage", 3, 0, images=(regions, 2))
    encode = _encoder(g, "FaceT5TextEncodeFlux", 3, facet5=(facet5, 0))
    people = (encode(1, REGION_PROMPTS[0], faces[0]), encode(2, REGION_PROMPTS[1], faces[1]))
    scene, negative = encode(3, SCENE_PROMPT), encode(4, FLUX_NEGATIVE)
    positive = _regions(g, 4, people, scene, ((regions, 0), (regions, 1)))
    positive = g.add("FluxGuidance", 7, 0, conditioning=(positive, 0), guidance=1.0)
    negative = g.add("FluxGuidance", 7, 1, conditioning=(negative, 0), guidance=1.0)
    latent = g.add("EmptySD3LatentImage", 7, 2, **WIDE, batch_size=1)
    shifted = g.add("ModelSamplingFlux", 7, 3, model=(unet, 0), max_shift=1.15, base_shift=0.5, **WIDE)
    sampled = g.add("KSampler", 8, 0, model=(shifted, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), **FLUX_SAMPLING)
    image = g.add("VAEDecode", 9, 0, samples=(sampled, 0), vae=(vae, 0))
    g.add("SaveImage", 10, 0, images=(image, 0), filename_prefix="faceclip_flux_two_people")
    return g


IDENTITY_START, IDENTITY_END = 0.15, 0.9  # fractions of the schedule: the no-face conditioning outside


def faceclip_identity_strength() -> Graph:
    """The portrait with the identity's strength and timing set: the face conditioning moved from the no-face one
    (same prompt, no face) by FaceCLIP Identity Strength, acting from IDENTITY_START to IDENTITY_END of the
    schedule (the host's Conditioning Set Timestep Range), the no-face conditioning before and after."""
    g = Graph()
    prompt = "A woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau."
    unet = g.add("UNETLoader", 0, 0, unet_name=UNET, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=VAE)
    faceclip = g.add("FaceCLIPLoader", 0, 2, encoder_name=ENCODER, dtype="auto")
    _, face = _reference_face(g)
    encode = _encoder(g, "FaceCLIPTextEncodeSDXL", 2, faceclip=(faceclip, 0), **_size_fields(SIZE))
    with_face, no_face, negative = encode(0, prompt, face), encode(1, prompt), encode(2, NEGATIVE)
    strength = g.add("FaceCLIPIdentityStrength", 3, 0, face_conditioning=(with_face, 0),
                     no_face_conditioning=(no_face, 0), strength=1.0)
    during = g.add("ConditioningSetTimestepRange", 4, 0, conditioning=(strength, 0), start=IDENTITY_START,
                   end=IDENTITY_END)
    before = g.add("ConditioningSetTimestepRange", 3, 1, conditioning=(no_face, 0), start=0.0, end=IDENTITY_START)
    after = g.add("ConditioningSetTimestepRange", 3, 2, conditioning=(no_face, 0), start=IDENTITY_END, end=1.0)
    outside = g.add("ConditioningCombine", 4, 1, conditioning_1=(before, 0), conditioning_2=(after, 0))
    positive = g.add("ConditioningCombine", 5, 0, conditioning_1=(during, 0), conditioning_2=(outside, 0))
    latent = g.add("EmptyLatentImage", 5, 1, **SIZE, batch_size=1)
    g.add("PreviewImage", 3, 3, images=(face, 1))  # which face was picked
    sampled = g.add("KSampler", 6, 0, model=(unet, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), **SDXL_SAMPLING)
    image = g.add("VAEDecode", 7, 0, samples=(sampled, 0), vae=(vae, 0))
    g.add("SaveImage", 8, 0, images=(image, 0), filename_prefix="faceclip_strength")
    return g


# ID-EA: both workflows use the base checkpoint the identity is trained on; NAME is what Train writes.
SDXL_CHECKPOINT, IDEA_NAME = "sd_xl_base_1.0.safetensors", "my_person"
IDEA_PHOTOS = ("idea_person_1.jpg", "idea_person_2.jpg")


def idea_train() -> Graph:
    from nodes.idea_logic import PREVIEW_PROMPTS

    g = Graph()
    sdxl = g.add("CheckpointLoaderSimple", 0, 0, ckpt_name=SDXL_CHECKPOINT)
    photos = [g.add("LoadImage", 0, row, image=name) for row, name in enumerate(IDEA_PHOTOS, start=1)]
    analyzer = g.add("FaceCLIPInsightFaceLoader", 1, 0, pack=RECOGNISER_PACK, provider="auto", runtime="auto")
    batch = g.add("ImageBatch", 1, 1, image1=(photos[0], 0), image2=(photos[1], 0))
    train = g.add("IDEATrain", 2, 0, images=(batch, 0), face_analyzer=(analyzer, 0), model=(sdxl, 0), clip=(sdxl, 1),
                  vae=(sdxl, 2), name=IDEA_NAME, steps=320, batch_size=8, micro_batch=1, resolution=1024, seed=0,
                  control_after_generate="fixed", gradient_checkpointing=True, preview_prompts=PREVIEW_PROMPTS, preview_steps=20)
    g.add("PreviewAny", 3, 0, source=(train, 0))
    g.add("SaveImage", 3, 1, images=(train, 2), filename_prefix="idea_preview")
    return g


def idea_apply() -> Graph:
    g = Graph()
    sdxl = g.add("CheckpointLoaderSimple", 0, 0, ckpt_name=SDXL_CHECKPOINT)
    idea = g.add("IDEALoader", 0, 1, idea_file=f"{IDEA_NAME}.idea.safetensors")
    prompt = g.add("CLIPTextEncode", 1, 0, clip=(sdxl, 1),
                   text=f"a photo of embedding:{IDEA_NAME} person as an astronaut, detailed, sharp focus")
    positive = g.add("IDEAApply", 2, 0, conditioning=(prompt, 0), idea=(idea, 0), strength=1.0)
    negative = g.add("CLIPTextEncode", 1, 1, clip=(sdxl, 1), text="blurry, lowres, deformed")
    latent = g.add("EmptyLatentImage", 1, 2, width=1024, height=1024, batch_size=2)
    sampled = g.add("KSampler", 3, 0, model=(sdxl, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), seed=0, control_after_generate="fixed", steps=30, cfg=6.0,
                    sampler_name="dpmpp_2m", scheduler="karras", denoise=1.0)
    image = g.add("VAEDecode", 4, 0, samples=(sampled, 0), vae=(sdxl, 2))
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="idea")
    return g


FACECLIP_WORKFLOWS = {
    "faceclip_portrait": faceclip_portrait,
    "faceclip_prompt_batch": faceclip_prompt_batch,
    "faceclip_id_similarity": faceclip_id_similarity,
}
IDEA_WORKFLOWS = {"idea_train": idea_train, "idea_apply": idea_apply}
FLUX_WORKFLOWS = {"faceclip_flux_portrait": faceclip_flux_portrait, "faceclip_flux_two_people": faceclip_flux_two_people}
CONTROL_WORKFLOWS = {"faceclip_two_people": faceclip_two_people, "faceclip_identity_strength": faceclip_identity_strength}
WORKFLOWS = {**FACECLIP_WORKFLOWS, **IDEA_WORKFLOWS, **FLUX_WORKFLOWS, **CONTROL_WORKFLOWS}


def write_workflows(folder: Path = ROOT / "example_workflows") -> None:
    for name, build in WORKFLOWS.items():
        ui = build().ui()
        (folder / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        (folder / "api" / f"{name}.json").write_text(json.dumps(ui_to_api(ui), indent=1) + "\n")


if __name__ == "__main__":
    write_workflows()
