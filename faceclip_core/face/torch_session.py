"""Runs an .onnx model in torch, on any torch device, through the part of onnxruntime's InferenceSession
interface face analysis uses (get_inputs, get_outputs, run), so the detector and recogniser code is shared.

The graph is read by onnx_file (no `onnx` package) and executed node by node with the ops of onnx_ops.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .onnx_file import Model, Node, load_model
from .onnx_ops import OPS


class UnsupportedOnnxOps(NotImplementedError):
    """The graph uses operators the torch runtime does not implement."""


@dataclass(frozen=True)
class TensorInfo:
    """As onnxruntime's NodeArg: a graph input or output's name and shape (a str or None for a dynamic axis)."""

    name: str
    shape: list[int | str | None]


@dataclass(frozen=True)
class _Step:
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict
    release: tuple[str, ...]  # values no later step reads: freed after this one


class TorchOnnxSession:
    """An ONNX model on `device`. Float weights live on the device; integer constants (shapes, indices) on the CPU."""

    def __init__(self, model: Model | str | Path, device: str | torch.device = "cpu") -> None:
        if not isinstance(model, Model):
            model = load_model(model)
        self.device = torch.device(device)
        self.opset = model.opset
        graph = model.graph
        unsupported = sorted({node.op_type for node in graph.nodes if node.op_type != "Constant"
                              and (node.op_type not in OPS or node.domain not in ("", "ai.onnx"))})
        if unsupported:
            raise UnsupportedOnnxOps(", ".join(unsupported))
        self._constants = {name: self._place(array) for name, array in graph.initializers.items()}
        for node in graph.nodes:
            if node.op_type == "Constant":
                self._constants[node.outputs[0]] = self._place(_constant_value(node.attributes))
        # Before IR version 4 every weight was also listed as a graph input; onnxruntime hides those.
        self._inputs = [TensorInfo(v.name, _shape(v.shape)) for v in graph.inputs if v.name not in graph.initializers]
        self._outputs = [TensorInfo(v.name, _shape(v.shape)) for v in graph.outputs]
        nodes = _fold_batch_norms([node for node in graph.nodes if node.op_type != "Constant"], self._constants,
                                  {info.name for info in self._outputs})
        self._steps = _schedule(nodes, {info.name for info in self._outputs})

    def _place(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.array(array, copy=True))
        if not tensor.is_floating_point():
            return tensor
        tensor = tensor.to(self.device)
        # 2-D conv weights in the layout the convolutions use (see onnx_ops' Conv), converted once here
        return tensor.contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 else tensor

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all when None) as numpy arrays, as onnxruntime's run gives them."""
        values = self.run_tensors({name: torch.as_tensor(np.asarray(array)) for name, array in feeds.items()})
        names = output_names or [info.name for info in self._outputs]
        return [values[name].cpu().numpy() for name in names]

    @torch.inference_mode()
    def run_tensors(self, feeds: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every graph output, as tensors on this session's device (integer outputs on the CPU)."""
        missing = [info.name for info in self._inputs if info.name not in feeds]
        if missing:
            raise ValueError(f"missing model inputs: {missing}")
        values: dict[str, Any] = dict(self._constants)
        for name, tensor in feeds.items():
            values[name] = tensor.to(self.device) if tensor.is_floating_point() else tensor
        for step in self._steps:
            args = [values[name] if name else None for name in step.inputs]
            result = OPS[step.op_type](args, step.attrs, self.opset)
            results = result if isinstance(result, tuple) else (result,)
            for name, tensor in zip(step.outputs, results):
                if name:
                    values[name] = tensor
            for name in step.release:
                values.pop(name, None)
        return {info.name: values[info.name] for info in self._outputs}


def _constant_value(attrs: dict) -> np.ndarray:
    if "value" in attrs:
        return attrs["value"]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise UnsupportedOnnxOps(f"Constant with {sorted(attrs)}")


def _shape(shape: list | None) -> list[int | str | None]:
    return [] if shape is None else list(shape)


def _fold_batch_norms(nodes: list[Node], constants: dict[str, torch.Tensor], outputs: set[str]) -> list[Node]:
    """Each BatchNormalization that alone reads a Conv's output is folded into that Conv's weights and bias
    (as onnxruntime does): one pass over the activations instead of two."""
    readers: dict[str, int] = {}
    for node in nodes:
        for name in node.inputs:
            readers[name] = readers.get(name, 0) + 1
    producers = {node.outputs[0]: index for index, node in enumerate(nodes) if node.op_type == "Conv"}
    nodes = list(nodes)  # the model's own nodes stay as read: folded Convs are new Node objects
    folded: set[int] = set()
    for node in nodes:
        if node.op_type != "BatchNormalization" or len(node.outputs) != 1 or len(node.inputs) < 5:
            continue
        index = producers.get(node.inputs[0])
        conv = None if index is None else nodes[index]
        params = node.inputs[1:5]
        if conv is None or readers.get(conv.outputs[0]) != 1 or conv.outputs[0] in outputs \
                or not all(name in constants for name in [*params, *conv.inputs[1:]]):
            continue
        # in float64 on the CPU (MPS has no float64), then back to the weights' dtype and device
        scale, shift, mean, var = (constants[name].cpu().double() for name in params)
        weight = constants[conv.inputs[1]]
        bias = (constants[conv.inputs[2]].cpu().double() if len(conv.inputs) > 2 and conv.inputs[2]
                else torch.zeros_like(mean))
        factor = scale / torch.sqrt(var + node.attributes.get("epsilon", 1e-5))
        key = conv.outputs[0]
        folded_weight = (weight.cpu().double() * factor.reshape(-1, *[1] * (weight.dim() - 1))).to(weight.device,
                                                                                                   weight.dtype)
        constants[f"{key}::folded_weight"] = (folded_weight.contiguous(memory_format=torch.channels_last)
                                              if folded_weight.dim() == 4 else folded_weight)
        constants[f"{key}::folded_bias"] = ((bias - mean) * factor + shift).to(weight.device, weight.dtype)
        nodes[index] = replace(conv, inputs=[conv.inputs[0], f"{key}::folded_weight", f"{key}::folded_bias"],
                               outputs=[node.outputs[0]])
        folded.add(id(node))
    return [node for node in nodes if id(node) not in folded]


def _schedule(nodes: list[Node], outputs: set[str]) -> list[_Step]:
    """The computing nodes in order, each with the values to free after it runs."""
    last_use: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.inputs:
            if name:
                last_use[name] = index
    steps = []
    for index, node in enumerate(nodes):
        attrs = dict(node.attributes)
        if node.op_type == "Split":
            attrs["_outputs"] = len(node.outputs)
        release = tuple(name for name in dict.fromkeys(node.inputs)
                        if name and last_use.get(name) == index and name not in outputs)
        steps.append(_Step(node.op_type, tuple(node.inputs), tuple(node.outputs), attrs, release))
    return steps
