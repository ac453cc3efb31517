"""The torch runtime for insightface packs: every ONNX op against onnxruntime on graphs built with the onnx
helper API, exported IResNet (ArcFace) and SCRFD-style networks, the ONNX file reader against `onnx`, and the
whole face analysis on the test packs against onnxruntime."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import assets
import face_architectures as arch
from faceclip_core.errors import ModelPackError, UsageError
from faceclip_core.face import FaceAnalyzer
from faceclip_core.face import engines
from faceclip_core.face.onnx_file import OnnxFormatError, parse_model
from faceclip_core.face.torch_session import TorchOnnxSession

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(0)


def _floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _model(op_type: str, inputs: list, opset: int, outputs: int = 1, **attrs) -> bytes:
    """One-node graph: float arrays are graph inputs, other arrays initializers (shapes, axes, indices), None an
    omitted optional input."""
    names, graph_inputs, initializers = [], [], []
    for index, value in enumerate(inputs):
        name = "" if value is None else f"in{index}"
        names.append(name)
        if value is None:
            continue
        if value.dtype == np.float32 and value.size:
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
        else:
            initializers.append(numpy_helper.from_array(value, name))
    node = helper.make_node(op_type, names, [f"out{k}" for k in range(outputs)], **attrs)
    graph = helper.make_graph([node], "g", graph_inputs, [helper.make_empty_tensor_value_info(f"out{k}") for k in range(outputs)],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _compare(data: bytes, feeds: dict, atol: float = 1e-5) -> list[np.ndarray]:
    expected = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    actual = TorchOnnxSession(parse_model(data)).run(None, feeds)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)
    return actual


def _i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


x4 = _floats(2, 6, 9, 11)
OP_CASES = {
    "Conv pads groups dilation": ("Conv", [x4, _floats(6, 3, 3, 3), _floats(6)], 11,
                                  dict(pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2], group=2)),
    "Conv SAME_UPPER": ("Conv", [x4, _floats(4, 6, 3, 3)], 11, dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    "Conv SAME_LOWER": ("Conv", [x4, _floats(4, 6, 2, 2)], 11, dict(auto_pad="SAME_LOWER")),
    "Conv 1x1 no bias": ("Conv", [x4, _floats(8, 6, 1, 1)], 9, {}),
    "ConvTranspose": ("ConvTranspose", [x4, _floats(6, 4, 2, 2), _floats(4)], 11, dict(strides=[2, 2])),
    "BatchNormalization": ("BatchNormalization", [x4, _floats(6), _floats(6), _floats(6), np.abs(_floats(6)) + 0.5],
                           9, dict(epsilon=2e-5)),
    "BatchNormalization 2-D": ("BatchNormalization", [_floats(3, 6), _floats(6), _floats(6), _floats(6),
                                                      np.abs(_floats(6)) + 0.5], 15, {}),
    "PRelu per channel": ("PRelu", [x4, _floats(6, 1, 1)], 9, {}),
    "PRelu scalar": ("PRelu", [x4, _floats(1)], 16, {}),
    "Relu": ("Relu", [x4], 14, {}),
    "LeakyRelu": ("LeakyRelu", [x4], 6, dict(alpha=0.1)),
    "Sigmoid": ("Sigmoid", [x4], 13, {}),
    "Add broadcast": ("Add", [x4, _floats(6, 1, 1)], 13, {}),
    "Sub": ("Sub", [x4, _floats(11)], 13, {}),
    "Mul": ("Mul", [x4, _floats(1)], 13, {}),
    "Div": ("Div", [x4, np.abs(_floats(1, 6, 1, 1)) + 0.5], 13, {}),
    "Exp": ("Exp", [x4], 13, {}),
    "Neg": ("Neg", [x4], 13, {}),
    "Sqrt": ("Sqrt", [np.abs(x4)], 13, {}),
    "Pow": ("Pow", [np.abs(x4), np.array([2.0], dtype=np.float32)], 13, {}),
    "Clip 11": ("Clip", [x4, np.array(-0.5, dtype=np.float32), np.array(0.7, dtype=np.float32)], 11, {}),
    "Clip 6": ("Clip", [x4], 6, dict(min=-0.2, max=0.4)),
    "Max": ("Max", [x4, _floats(2, 6, 9, 11)], 13, {}),
    "MaxPool": ("MaxPool", [x4], 11, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "MaxPool ceil asym": ("MaxPool", [x4], 11, dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1)),
    "AveragePool": ("AveragePool", [x4], 11, dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])),
    "AveragePool include pad": ("AveragePool", [x4], 11,
                                dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    "AveragePool ceil (SCRFD shortcut)": ("AveragePool", [x4], 11, dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    "AveragePool asym": ("AveragePool", [x4], 11, dict(kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1])),
    "GlobalAveragePool": ("GlobalAveragePool", [x4], 1, {}),
    "GlobalMaxPool": ("GlobalMaxPool", [x4], 1, {}),
    "Flatten": ("Flatten", [x4], 13, dict(axis=2)),
    "Gemm transB": ("Gemm", [_floats(3, 5), _floats(4, 5), _floats(4)], 11, dict(transB=1, alpha=0.5, beta=2.0)),
    "Gemm transA": ("Gemm", [_floats(5, 3), _floats(5, 4)], 13, dict(transA=1)),
    "MatMul batched": ("MatMul", [_floats(2, 3, 5), _floats(5, 4)], 13, {}),
    "Reshape 0 and -1": ("Reshape", [x4, _i64(0, -1, 11)], 13, {}),
    "Transpose": ("Transpose", [x4], 13, dict(perm=[0, 2, 3, 1])),
    "Transpose default": ("Transpose", [x4], 13, {}),
    "Concat": ("Concat", [x4, _floats(2, 3, 9, 11)], 13, dict(axis=1)),
    "Softmax 13": ("Softmax", [x4], 13, dict(axis=1)),
    "Softmax 11 coerced": ("Softmax", [x4], 11, dict(axis=2)),
    "LogSoftmax": ("LogSoftmax", [x4], 13, {}),
    "Upsample 9": ("Upsample", [x4, np.array([1, 1, 2, 2], dtype=np.float32)], 9, dict(mode="nearest")),
    "Resize 10": ("Resize", [x4, np.array([1, 1, 2, 1.5], dtype=np.float32)], 10, dict(mode="nearest")),
    "Resize nearest sizes": ("Resize", [x4, np.zeros(0, np.float32), np.zeros(0, np.float32), _i64(2, 6, 18, 22)], 11,
                             dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
    "Resize nearest half_pixel": ("Resize", [x4, None, np.array([1, 1, 1.7, 0.6], dtype=np.float32)], 13,
                                  dict(mode="nearest")),
    "Resize nearest prefer ceil": ("Resize", [x4, None, np.array([1, 1, 2.5, 0.5], dtype=np.float32)], 13,
                                   dict(mode="nearest", nearest_mode="round_prefer_ceil")),
    "Resize linear half_pixel": ("Resize", [x4, None, np.array([1, 1, 2, 2], dtype=np.float32)], 13, dict(mode="linear")),
    "Resize linear align_corners": ("Resize", [x4, None, None, _i64(2, 6, 5, 17)], 13,
                                    dict(mode="linear", coordinate_transformation_mode="align_corners")),
    "Resize linear asymmetric": ("Resize", [x4, None, np.array([1, 1, 0.5, 3], dtype=np.float32)], 13,
                                 dict(mode="linear", coordinate_transformation_mode="asymmetric")),
    "Resize linear pytorch_half_pixel": ("Resize", [x4, None, None, _i64(2, 6, 1, 7)], 13,
                                         dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel")),
    "Slice": ("Slice", [x4, _i64(1, -8), _i64(100, -1), _i64(2, 3), _i64(1, 2)], 13, {}),
    "Slice negative step": ("Slice", [x4, _i64(-1), _i64(-100), _i64(1), _i64(-2)], 13, {}),
    "Slice 9": ("Slice", [x4], 9, dict(starts=[1], ends=[3], axes=[1])),
    "Gather": ("Gather", [x4, _i64(2, 0, -1)], 13, dict(axis=1)),
    "Gather scalar": ("Gather", [x4, np.array(-2, dtype=np.int64)], 13, dict(axis=3)),
    "Unsqueeze 11": ("Unsqueeze", [x4], 11, dict(axes=[0, -1])),
    "Unsqueeze 13": ("Unsqueeze", [x4, _i64(1)], 13, {}),
    "Squeeze 11": ("Squeeze", [_floats(1, 3, 1, 4)], 11, dict(axes=[0])),
    "Squeeze 13": ("Squeeze", [_floats(1, 3, 1, 4), _i64(2)], 13, {}),
    "Split 11": ("Split", [x4], 11, dict(axis=1, split=[2, 4]), 2),
    "Split 13": ("Split", [x4, _i64(5, 4)], 13, dict(axis=2), 2),
    "Split even": ("Split", [x4], 13, dict(axis=1), 3),
    "Dropout": ("Dropout", [x4], 13, {}),
    "Identity": ("Identity", [x4], 13, {}),
    "Shape": ("Shape", [x4], 13, {}),
    "Shape 15 start": ("Shape", [x4], 15, dict(start=1, end=-1)),
    "Cast": ("Cast", [x4 * 10], 13, dict(to=TensorProto.INT64)),
    "Expand": ("Expand", [_floats(3, 1), _i64(2, 3, 4)], 13, {}),
    "Tile": ("Tile", [_floats(2, 3), _i64(2, 1)], 13, {}),
    "Pad": ("Pad", [x4, _i64(0, 0, 1, 2, 0, 0, 3, 0)], 13, dict(mode="constant")),
    "Pad edge": ("Pad", [x4, _i64(0, 0, 1, 2, 0, 0, 3, 0)], 13, dict(mode="edge")),
    "ReduceMean": ("ReduceMean", [x4], 13, dict(axes=[2, 3], keepdims=0)),
    "ReduceSum": ("ReduceSum", [x4, _i64(1)], 13, {}),
    "ReduceL2": ("ReduceL2", [x4], 13, dict(axes=[1])),
    "Where": ("Where", [x4 > 0.5, x4, _floats(11)], 13, {}),
    "InstanceNormalization": ("InstanceNormalization", [x4, _floats(6), _floats(6)], 6, {}),
    "HardSigmoid": ("HardSigmoid", [x4], 6, {}),
    "Tanh": ("Tanh", [x4], 13, {}),
}


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_op_matches_onnxruntime(case):
    op_type, inputs, opset, attrs, *outputs = OP_CASES[case]
    data = _model(op_type, inputs, opset, outputs[0] if outputs else 1, **attrs)
    feeds = {f"in{i}": value for i, value in enumerate(inputs)
             if value is not None and value.dtype == np.float32 and value.size}
    _compare(data, feeds)


def test_constant_and_shape_arithmetic_as_exporters_write_it():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape with Constant nodes, integer Mul/Div and Range."""
    x = _floats(2, 3, 4, 5)
    nodes = [
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, dtype=np.int64))),
        helper.make_node("Constant", [], ["two"], value_int=2),
        helper.make_node("Constant", [], ["axes"], value_ints=[0]),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Mul", ["batch", "two"], ["doubled"]),
        helper.make_node("Div", ["doubled", "two"], ["same"]),
        helper.make_node("Unsqueeze", ["same", "axes"], ["batch1"]),
        helper.make_node("Constant", [], ["rest"], value=numpy_helper.from_array(_i64(-1))),
        helper.make_node("Concat", ["batch1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Range", ["zero", "doubled", "two"], ["steps"]),
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Mul", ["flat", "half"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])],
                              [helper.make_empty_tensor_value_info("y"), helper.make_empty_tensor_value_info("steps")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    y, steps = _compare(model.SerializeToString(), {"x": x})
    assert y.shape == (2, 60) and steps.tolist() == [0, 2]


def test_unsupported_op_is_named_with_the_onnxruntime_fix(tmp_path):
    data = _model("Einsum", [_floats(2, 3), _floats(3, 4)], 13, equation="ij,jk->ik")
    path = tmp_path / "custom.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelPackError) as error:
        engines.open_torch_session(path, torch.device("cpu"))
    message = str(error.value)
    assert f"Face model {path} uses ONNX operators the torch runtime does not implement: Einsum" in message
    assert "pip install onnxruntime" in message and "runtime 'onnxruntime'" in message


# --- the ONNX file reader ---------------------------------------------------------------------------------


def test_reader_reads_every_tensor_encoding_and_attribute_type():
    arrays = {
        "raw_f32": _floats(2, 3),
        "raw_f16": _floats(4).astype(np.float16),
        "raw_i64_negative": _i64(-1, 0, 2**40, -(2**62)),
        "raw_bool": np.array([True, False, True]),
        "raw_u8": np.array([0, 255, 7], dtype=np.uint8),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    tensors = [numpy_helper.from_array(value, name) for name, value in arrays.items()]
    # typed fields (float_data, int64_data, int32_data, double_data), as older writers store small tensors
    tensors.append(helper.make_tensor("typed_f32", TensorProto.FLOAT, [2, 2], [1.5, -2.0, 3.25, 0.0]))
    tensors.append(helper.make_tensor("typed_i64", TensorProto.INT64, [3], [-5, 7, 2**35]))
    tensors.append(helper.make_tensor("typed_i32", TensorProto.INT32, [2], [-3, 9]))
    tensors.append(helper.make_tensor("typed_f64", TensorProto.DOUBLE, [2], [0.1, -7.0]))
    tensors.append(helper.make_tensor("typed_f16", TensorProto.FLOAT16, [2], np.array([1.5, -0.25], dtype=np.float16)))
    tensors.append(helper.make_tensor("bf16", TensorProto.BFLOAT16, [3], [1.0, -2.5, 0.15625]))
    node = helper.make_node(
        "Custom", ["raw_f32"], ["out"], name="n", f=0.25, i=-7, s=b"text", floats=[1.0, 2.5], ints=[-1, 3],
        strings=[b"a", b"b"], t=numpy_helper.from_array(_i64(4, 5)),
    )
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, None, 640])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])], tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid("ai.onnx.ml", 3)])
    parsed = parse_model(model.SerializeToString())
    assert parsed.opset == 11
    for tensor in tensors:
        expected = numpy_helper.to_array(tensor)
        if tensor.data_type == TensorProto.BFLOAT16:
            expected = np.array([1.0, -2.5, 0.15625], dtype=np.float32)
        got = parsed.graph.initializers[tensor.name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, tensor.name
        np.testing.assert_array_equal(got, expected)
    [parsed_node] = parsed.graph.nodes
    assert (parsed_node.op_type, parsed_node.inputs, parsed_node.outputs, parsed_node.name) == ("Custom", ["raw_f32"], ["out"], "n")
    attrs = parsed_node.attributes
    assert (attrs["f"], attrs["i"], attrs["s"], attrs["floats"], attrs["ints"], attrs["strings"]) == (
        0.25, -7, b"text", [1.0, 2.5], [-1, 3], [b"a", b"b"])
    assert attrs["t"].tolist() == [4, 5]
    assert parsed.graph.inputs[0].shape == ["N", 3, None, 640] and parsed.graph.outputs[0].shape == [1]


@pytest.mark.parametrize("cut", [0, 10, 1000, -3])
def test_reader_refuses_truncated_or_foreign_bytes(cut):
    data = assets.stand_in_recognizer().SerializeToString()
    broken = b"" if cut == 0 else data[:cut]
    with pytest.raises(OnnxFormatError):
        parse_model(broken)


def test_reader_refuses_external_data(tmp_path):
    model = assets.stand_in_recognizer()
    onnx.save_model(model, tmp_path / "m.onnx", save_as_external_data=True, size_threshold=0)
    with pytest.raises(OnnxFormatError, match="external file"):
        parse_model((tmp_path / "m.onnx").read_bytes())


# --- exported ArcFace and SCRFD-style networks --------------------------------------------------------------


def _export(model: torch.nn.Module, example: torch.Tensor, outputs: list[str], opset: int, dynamic: dict) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch.export_onnx(model, example, "input.1", outputs, opset, dynamic)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_exported_iresnet_matches_onnxruntime_and_torch(opset):
    torch.manual_seed(opset)
    model = arch.randomise_batch_norms(arch.IResNet((2, 1, 2, 1), width=8, embedding=64), seed=opset)
    faces = torch.randn(3, 3, 112, 112)
    data = _export(model, faces, ["embedding"], opset, {"input.1": {0: "N"}, "embedding": {0: "N"}})
    ops = {node.op_type for node in parse_model(data).graph.nodes}
    assert {"Conv", "BatchNormalization", "PRelu", "Add", "Flatten", "Gemm"} <= ops
    [embedding] = _compare(data, {"input.1": faces.numpy()}, atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(embedding, model(faces).numpy(), atol=1e-4)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_exported_scrfd_like_detector_matches_onnxruntime_and_torch(opset):
    torch.manual_seed(opset)
    model = arch.randomise_batch_norms(arch.ScrfdLike(), seed=opset)
    image = torch.randn(1, 3, 320, 256)
    data = _export(model, image, arch.scrfd_output_names(), opset, {"input.1": {2: "H", 3: "W"}})
    ops = {node.op_type for node in parse_model(data).graph.nodes}
    assert {"Conv", "Relu", "MaxPool", "AveragePool", "Resize", "Sigmoid", "Transpose", "Reshape"} <= ops
    outputs = _compare(data, {"input.1": image.numpy()}, atol=1e-4)
    with torch.no_grad():
        for got, want in zip(outputs, model(image)):
            np.testing.assert_allclose(got, want.numpy(), atol=1e-4)


# --- face analysis on the test packs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def both_runtimes(face_models_dir):
    return (FaceAnalyzer(face_models_dir, providers="cpu", runtime="torch"),
            FaceAnalyzer(face_models_dir, providers="cpu", runtime="onnxruntime"))


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper", "pair"])
def test_face_analysis_on_torch_equals_onnxruntime(both_runtimes, photos, photo):
    on_torch, on_ort = both_runtimes
    assert type(on_torch.detector.session).__name__ == "TorchOnnxSession"
    assert isinstance(on_ort.detector.session, ort.InferenceSession)
    faces, expected = on_torch.detect(photos[photo]), on_ort.detect(photos[photo])
    assert len(faces) == len(expected) >= 1
    for face, want in zip(faces, expected):
        np.testing.assert_allclose(face.bbox, want.bbox, atol=1e-4)
        np.testing.assert_allclose(face.kps, want.kps, atol=1e-4)
        assert abs(face.score - want.score) <= 1e-4
        np.testing.assert_allclose(face.embedding, want.embedding, atol=1e-4)
        assert float(face.embedding @ want.embedding) >= 0.9999
        assert np.abs(face.crop.astype(int) - want.crop.astype(int)).max() <= 1


def test_runtime_choice(monkeypatch):
    assert engines.resolve_runtime("Torch") == "torch"
    assert engines.resolve_runtime("onnxruntime") == "onnxruntime"
    # auto: onnxruntime on the CPU where it is installed, torch on a GPU and where onnxruntime is missing
    assert engines.resolve_runtime("auto", "cpu") == "onnxruntime"
    assert engines.resolve_runtime("auto", "cpu", device="cuda") == "torch"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert engines.resolve_runtime("auto", "cpu") == "torch"
    with pytest.raises(UsageError, match=r"Unknown face-analysis runtime 'tensorrt'"):
        engines.resolve_runtime("tensorrt")
    assert engines.torch_device("cpu") == torch.device("cpu")
    assert engines.torch_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert engines.torch_device(["CPUExecutionProvider"]) == torch.device("cpu")
    assert engines.torch_device("cuda", device="cpu") == torch.device("cpu")  # the host's device wins
    with pytest.raises(UsageError, match="Unknown providers 'gpu'"):
        engines.torch_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where torch has no CUDA")
def test_cuda_request_without_cuda_is_refused():
    with pytest.raises(UsageError, match="sees no CUDA GPU"):
        engines.torch_device("cuda")


def test_detect_cli_works_with_onnxruntime_unimportable(face_models_dir, tmp_path):
    """A Manager install has no onnxruntime: the pack's models still run (in torch), the JSON is today's."""
    image = tmp_path / "astronaut.png"
    from PIL import Image

    Image.fromarray(assets.astronaut()).save(image)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "onnxruntime.py").write_text("raise ImportError('onnxruntime is not installed (blocked by the test)')\n")
    (blocker / "sitecustomize.py").write_text("")
    crop = tmp_path / "crop.png"
    env = {"PYTHONPATH": f"{blocker}:{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "faceclip_core", "detect", str(image), "--models-dir", str(face_models_dir),
               "--out-crop", str(crop)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    import json

    [face] = json.loads(result.stdout)["faces"]
    assert face["picked"] and len(face["kps"]) == 5 and face["score"] > 0.5
    assert Image.open(crop).size == (448, 448)
    refused = subprocess.run(command + ["--runtime", "onnxruntime"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=300)
    assert refused.returncode == 2 and "pip install onnxruntime" in refused.stderr
