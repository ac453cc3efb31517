"""The two formats of a ComfyUI graph, and the pack's example workflows written in both.

UI format (what the frontend saves and the template browser lists: `example_workflows/NAME.json`) holds nodes
with positions, link inputs and `widgets_values`; API format (`example_workflows/api/NAME.json`, what
`POST /prompt` takes) maps node ids to `class_type` and named inputs. `ui_to_api` converts the first
into the second from each node's input declaration, so a test can prove the two files agree.

    python tests/workflow_format.py      # (re)writes the example workflows in both formats
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
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
}
# This pack's nodes as saved workflows see them. A UI workflow stores widget values by position, so a widget
# renamed, added in the middle or reordered would shift every saved value: tests/test_nodes.py checks that the
# V3 schemas declare exactly this (where comfy_api can be imported), and the builder writes from it.
PACK_NODES: dict[str, dict[str, list]] = {
    "FaceCLIPLoader": {"inputs": [], "widgets": ["encoder_name", "dtype"], "outputs": [("FACECLIP", "FACECLIP")]},
    "FaceCLIPTextEncodeSDXL": {
        "inputs": [("faceclip", "FACECLIP"), ("face", "FACE")],
        "widgets": ["text", "width", "height", "crop_w", "crop_h", "target_width", "target_height", "multiple_faces",
                    "one_prompt_per_line"],
        "outputs": [("CONDITIONING", "CONDITIONING")],
    },
    "FaceCLIPInsightFaceLoader": {"inputs": [], "widgets": ["pack", "provider"], "outputs": [("FACE_ANALYZER", "FACE_ANALYZER")]},
    "FaceCLIPDetectFace": {"inputs": [("analyzer", "FACE_ANALYZER"), ("image", "IMAGE")], "widgets": ["pick", "index"],
                           "outputs": [("face", "FACE"), ("preview", "IMAGE"), ("crops", "IMAGE")]},
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
                             "widgets": ["text", "multiple_faces", "one_prompt_per_line"],
                             "outputs": [("CONDITIONING", "CONDITIONING")]},
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}  # and lists (V1 combos); any other type is a link
# widget values the frontend keeps but the API never sends, with what the frontend writes for them
UI_ONLY_WIDGETS = {"control_after_generate": "fixed", "upload": "image"}

# The room each node gets, (width, height) of its body: at least what frontends 1.27.10 and 1.58.1 draw it with, the
# latter also in its Vue nodes mode, where most nodes are taller (measured in tests/test_host_browser.py, which also
# checks that no drawn node overlaps another), with room for the image that Load Image, Save Image and Preview Image
# show and the text Preview Any shows.
NODE_SIZES: dict[str, tuple[int, int]] = {
    "UNETLoader": (300, 90), "VAELoader": (300, 62), "CheckpointLoaderSimple": (300, 102), "CLIPTextEncode": (400, 200),
    "LoadImage": (320, 340), "EmptyLatentImage": (300, 118), "KSampler": (300, 262), "ImageBatch": (225, 54),
    "VAEDecode": (225, 54), "SaveImage": (340, 360), "PreviewImage": (320, 340), "PreviewAny": (300, 200),
    "FaceCLIPLoader": (300, 114), "FaceCLIPTextEncodeSDXL": (400, 370), "FaceCLIPInsightFaceLoader": (300, 114),
    "FaceCLIPDetectFace": (300, 154), "FaceIDSimilarity": (240, 98), "IDEATrain": (400, 438), "IDEALoader": (300, 110),
    "IDEAApply": (300, 106), "FaceT5Loader": (300, 142), "FaceT5TextEncodeFlux": (400, 260), "FluxGuidance": (300, 62),
    "ModelSamplingFlux": (300, 146), "EmptySD3LatentImage": (300, 118),
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
            "properties": {"Node name for S&R": class_type}, "widgets_values": widgets,
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


# File names: README's models table; tests/make_tiny_models.py writes tiny models under the same names.
UNET, VAE, ENCODER, FACE_IMAGE = "faceclip_unet.pt", "sdxl_vae.safetensors", "face_clip_encoder.pt", "faceclip_reference.png"
NEGATIVE = ("nude, worst quality, low quality, normal quality, nsfw, abstract, glitch, deformed, mutated, ugly, "
            "disfigured, text, watermark, bad hands, error, jpeg artifacts, blurry, missing fingers, poorly drawn face")
SIZE = {"width": 864, "height": 1152}  # the official pipeline's portrait size


def _reference_face(g: Graph) -> tuple[int, int]:
    """The reference photo and its face, down the first columns: (analyzer, Detect Face) node ids."""
    analyzer = g.add("FaceCLIPInsightFaceLoader", 0, 3, pack="antelopev2", provider="auto")
    photo = g.add("LoadImage", 0, 4, image=FACE_IMAGE)
    face = g.add("FaceCLIPDetectFace", 1, 0, analyzer=(analyzer, 0), image=(photo, 0), pick="largest", index=0)
    return analyzer, face


def _faceclip_base(g: Graph, prompt: str, one_per_line: bool, batch: int) -> tuple[int, int, int]:
    """Shared front of the FaceCLIP workflows: loaders, the reference face, both encodes, sampling."""
    unet = g.add("UNETLoader", 0, 0, unet_name=UNET, weight_dtype="default")
    vae = g.add("VAELoader", 0, 1, vae_name=VAE)
    faceclip = g.add("FaceCLIPLoader", 0, 2, encoder_name=ENCODER, dtype="auto")
    analyzer, face = _reference_face(g)
    sizes = {"width": SIZE["width"], "height": SIZE["height"], "crop_w": 0, "crop_h": 0,
             "target_width": SIZE["width"], "target_height": SIZE["height"]}
    positive = g.add("FaceCLIPTextEncodeSDXL", 2, 0, faceclip=(faceclip, 0), face=(face, 0), text=prompt, **sizes,
                     multiple_faces="first", one_prompt_per_line=one_per_line)
    negative = g.add("FaceCLIPTextEncodeSDXL", 2, 1, faceclip=(faceclip, 0), text=NEGATIVE, **sizes,
                     multiple_faces="first", one_prompt_per_line=False)
    latent = g.add("EmptyLatentImage", 2, 2, **SIZE, batch_size=batch)
    sampled = g.add("KSampler", 3, 0, model=(unet, 0), positive=(positive, 0), negative=(negative, 0),
                    latent_image=(latent, 0), seed=453563, control_after_generate="fixed", steps=30, cfg=5.0,
                    sampler_name="dpmpp_2m", scheduler="karras", denoise=1.0)
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
    image, analyzer, face = _faceclip_base(g, "A woman laughing at a birthday party, flash photo.", False, 2)
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
                    latent_image=(latent, 0), seed=453563, control_after_generate="fixed", steps=50, cfg=3.5,
                    sampler_name="euler", scheduler="simple", denoise=1.0)
    image = g.add("VAEDecode", 4, 0, samples=(sampled, 0), vae=(vae, 0))
    g.add("SaveImage", 5, 0, images=(image, 0), filename_prefix="faceclip_flux")
    return g


# ID-EA: both workflows use the base checkpoint the identity is trained on; NAME is what Train writes.
SDXL_CHECKPOINT, IDEA_NAME = "sd_xl_base_1.0.safetensors", "my_person"
IDEA_PHOTOS = ("idea_person_1.jpg", "idea_person_2.jpg")


def idea_train() -> Graph:
    from nodes.idea_logic import PREVIEW_PROMPTS

    g = Graph()
    sdxl = g.add("CheckpointLoaderSimple", 0, 0, ckpt_name=SDXL_CHECKPOINT)
    photos = [g.add("LoadImage", 0, row, image=name) for row, name in enumerate(IDEA_PHOTOS, start=1)]
    analyzer = g.add("FaceCLIPInsightFaceLoader", 1, 0, pack="antelopev2", provider="auto")
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
FLUX_WORKFLOWS = {"faceclip_flux_portrait": faceclip_flux_portrait}
WORKFLOWS = {**FACECLIP_WORKFLOWS, **IDEA_WORKFLOWS, **FLUX_WORKFLOWS}


def write_workflows(folder: Path = ROOT / "example_workflows") -> None:
    for name, build in WORKFLOWS.items():
        ui = build().ui()
        (folder / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        (folder / "api" / f"{name}.json").write_text(json.dumps(ui_to_api(ui), indent=1) + "\n")


if __name__ == "__main__":
    write_workflows()
