"""ONNX operators as torch functions, with the semantics of the ONNX spec (opsets 7 to 18) for the ops the
insightface packs' SCRFD detectors and ArcFace ResNets use, and the shape arithmetic exporters emit.

Each op is `fn(inputs, attrs, opset) -> tensor or tuple of tensors`; an input left out in the graph is None.
Integer tensors (shapes, indices) stay on the CPU, where reading them as Python numbers costs nothing.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
OpFn = Callable[[list, dict, int], Any]
OPS: dict[str, OpFn] = {}

# TensorProto.DataType -> torch dtype
TORCH_DTYPES = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
    9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16,
}


def op(*names: str) -> Callable[[OpFn], OpFn]:
    def register(fn: OpFn) -> OpFn:
        for name in names:
            OPS[name] = fn
        return fn
    return register


def ints(tensor: Tensor | None) -> list[int]:
    return [] if tensor is None else [int(v) for v in tensor.reshape(-1).tolist()]


def _together(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Two operands on one device: a CPU shape value meets the activations on theirs."""
    if a.device != b.device:
        if a.device.type == "cpu" and a.dim() == 0:
            return a, b
        if b.device.type == "cpu" and b.dim() == 0:
            return a, b
        return (a.to(b.device), b) if a.device.type == "cpu" else (a, b.to(a.device))
    return a, b


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> OpFn:
    return lambda inputs, attrs, opset: fn(*_together(inputs[0], inputs[1]))


def _integer_div(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


for _name, _fn in {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _integer_div, "Pow": torch.pow,
    "Equal": torch.eq, "Greater": torch.gt, "Less": torch.lt, "GreaterOrEqual": torch.ge, "LessOrEqual": torch.le,
    "And": torch.logical_and, "Or": torch.logical_or,
}.items():
    OPS[_name] = _binary(_fn)

for _name, _fn in {
    "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp, "Log": torch.log,
    "Neg": torch.neg, "Sqrt": torch.sqrt, "Abs": torch.abs, "Floor": torch.floor, "Ceil": torch.ceil,
    "Reciprocal": torch.reciprocal, "Not": torch.logical_not, "Erf": torch.erf, "Round": torch.round,
    "Softplus": F.softplus, "Sign": torch.sign,
}.items():
    OPS[_name] = (lambda fn: lambda inputs, attrs, opset: fn(inputs[0]))(_fn)


@op("Identity", "Dropout")
def _identity(inputs: list, attrs: dict, opset: int) -> Tensor:
    return inputs[0]  # Dropout at inference passes its input through (its optional mask output is not given)


def _fold(fn: Callable[[Tensor, Tensor], Tensor], mean: bool = False) -> OpFn:
    def run(inputs: list, attrs: dict, opset: int) -> Tensor:
        result = inputs[0]
        for other in inputs[1:]:
            result = fn(*_together(result, other))
        return result / len(inputs) if mean else result
    return run


OPS.update(Max=_fold(torch.maximum), Min=_fold(torch.minimum), Sum=_fold(torch.add), Mean=_fold(torch.add, mean=True))


@op("Mod")
def _mod(inputs: list, attrs: dict, opset: int) -> Tensor:
    a, b = _together(inputs[0], inputs[1])
    return torch.fmod(a, b) if attrs.get("fmod", 0) else torch.remainder(a, b)


@op("LeakyRelu")
def _leaky_relu(inputs: list, attrs: dict, opset: int) -> Tensor:
    return F.leaky_relu(inputs[0], attrs.get("alpha", 0.01))


@op("PRelu")
def _prelu(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, slope = inputs[0], inputs[1].to(inputs[0].device)
    per_channel = x.dim() >= 2 and slope.dim() == x.dim() - 1 and slope.shape[0] == x.shape[1] \
        and slope.numel() == x.shape[1]
    if slope.numel() == 1 or per_channel:  # one fused kernel for the layouts ArcFace exports use
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


@op("Clip")
def _clip(inputs: list, attrs: dict, opset: int) -> Tensor:
    if opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low = None if len(inputs) < 2 or inputs[1] is None else inputs[1].item()
        high = None if len(inputs) < 3 or inputs[2] is None else inputs[2].item()
    return torch.clamp(inputs[0], low, high)


@op("HardSigmoid")
def _hard_sigmoid(inputs: list, attrs: dict, opset: int) -> Tensor:
    return torch.clamp(inputs[0] * attrs.get("alpha", 0.2) + attrs.get("beta", 0.5), 0, 1)


@op("Where")
def _where(inputs: list, attrs: dict, opset: int) -> Tensor:
    condition, a, b = inputs
    a, b = _together(a, b)
    return torch.where(condition.to(a.device), a, b)


def _softmax_op(log: bool) -> OpFn:
    def run(inputs: list, attrs: dict, opset: int) -> Tensor:
        x = inputs[0]
        fn = torch.log_softmax if log else torch.softmax
        if opset >= 13:
            return fn(x, attrs.get("axis", -1))
        # Before opset 13 the input is taken as 2-D, [prod(shape[:axis]), prod(shape[axis:])].
        axis = attrs.get("axis", 1) % max(x.dim(), 1)
        return fn(x.reshape(math.prod(x.shape[:axis]), -1), 1).reshape(x.shape)
    return run


OPS.update(Softmax=_softmax_op(False), LogSoftmax=_softmax_op(True))


# --- convolution, normalisation, pooling ------------------------------------------------------------


def _explicit_pads(attrs: dict, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int]) -> list[int]:
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...], with auto_pad resolved."""
    rank = len(spatial)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        return begin + end
    if auto == "VALID":
        return [0] * (2 * rank)
    return list(attrs.get("pads", [0] * (2 * rank)))


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX begin/end pads of the spatial axes as F.pad's (last axis first) list."""
    rank = len(pads) // 2
    out: list[int] = []
    for axis in reversed(range(rank)):
        out += [pads[axis], pads[axis + rank]]
    return out


@op("Conv")
def _conv(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    rank = weight.dim() - 2
    kernel = attrs.get("kernel_shape", list(weight.shape[2:]))
    strides = attrs.get("strides", [1] * rank)
    dilations = attrs.get("dilations", [1] * rank)
    pads = _explicit_pads(attrs, x.shape[2:], kernel, strides, dilations)
    if pads[:rank] != pads[rank:]:
        x, pads = F.pad(x, _torch_pad(pads)), [0] * (2 * rank)
    if rank == 2:  # oneDNN and cuDNN run 2-D convolutions fastest channels-last (about 20% here on CPU)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    return conv(x, weight, bias, strides, pads[:rank], dilations, attrs.get("group", 1))


@op("ConvTranspose")
def _conv_transpose(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    rank = weight.dim() - 2
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or "output_shape" in attrs:
        raise NotImplementedError("ConvTranspose with auto_pad or output_shape")
    pads = list(attrs.get("pads", [0] * (2 * rank)))
    if pads[:rank] != pads[rank:]:
        raise NotImplementedError("ConvTranspose with asymmetric pads")
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
    return conv(x, weight, bias, attrs.get("strides", [1] * rank), pads[:rank],
                attrs.get("output_padding", [0] * rank), attrs.get("group", 1), attrs.get("dilations", [1] * rank))


@op("BatchNormalization")
def _batch_norm(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, scale, bias, mean, var = inputs[:5]
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=attrs.get("epsilon", 1e-5))


@op("InstanceNormalization")
def _instance_norm(inputs: list, attrs: dict, opset: int) -> Tensor:
    return F.instance_norm(inputs[0], weight=inputs[1], bias=inputs[2], eps=attrs.get("epsilon", 1e-5))


def _pool_setup(x: Tensor, attrs: dict) -> tuple[list[int], list[int], list[int], list[int], bool]:
    kernel = list(attrs["kernel_shape"])
    rank = len(kernel)
    strides = list(attrs.get("strides", [1] * rank))
    dilations = list(attrs.get("dilations", [1] * rank))
    pads = _explicit_pads(attrs, x.shape[2:], kernel, strides, dilations)
    return kernel, strides, dilations, pads, bool(attrs.get("ceil_mode", 0))


@op("MaxPool")
def _max_pool(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    kernel, strides, dilations, pads, ceil = _pool_setup(x, attrs)
    rank = len(kernel)
    if pads[:rank] != pads[rank:] or any(2 * p > k for p, k in zip(pads, kernel * 2)):
        x, pads = F.pad(x, _torch_pad(pads), value=-math.inf), [0] * (2 * rank)
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[rank]
    return pool(x, kernel, strides, pads[:rank], dilations, ceil_mode=ceil)


@op("AveragePool")
def _average_pool(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    kernel, strides, _, pads, ceil = _pool_setup(x, attrs)
    rank = len(kernel)
    include_pad = bool(attrs.get("count_include_pad", 0))
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[rank]
    if pads[:rank] == pads[rank:] and all(2 * p <= k for p, k in zip(pads[:rank], kernel)):
        return pool(x, kernel, strides, pads[:rank], ceil_mode=ceil, count_include_pad=include_pad)
    # Asymmetric pads: sum-pool the zero-padded input and divide by the counted cells.
    padded = F.pad(x, _torch_pad(pads))
    sums = pool(padded, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True) * math.prod(kernel)
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    mask = F.pad(ones, _torch_pad(pads), value=1.0 if include_pad else 0.0)
    counts = pool(mask, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True) * math.prod(kernel)
    return sums / counts


@op("GlobalAveragePool")
def _global_average_pool(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _global_max_pool(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


# --- matrix products ------------------------------------------------------------------------------------


@op("MatMul")
def _matmul(inputs: list, attrs: dict, opset: int) -> Tensor:
    return torch.matmul(*_together(inputs[0], inputs[1]))


@op("Gemm")
def _gemm(inputs: list, attrs: dict, opset: int) -> Tensor:
    a, b = inputs[0], inputs[1]
    a = a.t() if attrs.get("transA", 0) else a
    b = b.t() if attrs.get("transB", 0) else b
    out = torch.matmul(a, b)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        out = out * alpha
    if len(inputs) > 2 and inputs[2] is not None:
        out = out + (inputs[2] * beta if beta != 1.0 else inputs[2])
    return out


# --- shapes and indexing ----------------------------------------------------------------------------------


def _cpu_ints(values: Sequence[int]) -> Tensor:
    return torch.tensor(list(values), dtype=torch.int64)


@op("Shape")
def _shape(inputs: list, attrs: dict, opset: int) -> Tensor:
    shape = list(inputs[0].shape)
    start, end = attrs.get("start", 0), attrs.get("end", len(shape))
    return _cpu_ints(shape[start:end])


@op("Size")
def _size(inputs: list, attrs: dict, opset: int) -> Tensor:
    return torch.tensor(inputs[0].numel(), dtype=torch.int64)


@op("ConstantOfShape")
def _constant_of_shape(inputs: list, attrs: dict, opset: int) -> Tensor:
    value = attrs.get("value")
    fill = torch.zeros(1) if value is None else torch.as_tensor(value).reshape(1)
    return fill.expand(ints(inputs[0])).clone()


@op("Cast")
def _cast(inputs: list, attrs: dict, opset: int) -> Tensor:
    to = attrs["to"]
    if to not in TORCH_DTYPES:
        raise NotImplementedError(f"Cast to ONNX data type {to}")
    return inputs[0].to(TORCH_DTYPES[to])


@op("Reshape")
def _reshape(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, shape = inputs[0], ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@op("Flatten")
def _flatten(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    axis = attrs.get("axis", 1) % (x.dim() + 1) if x.dim() else 0
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@op("Transpose")
def _transpose(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    return x.permute(attrs.get("perm", list(reversed(range(x.dim())))))


def _axes(inputs: list, attrs: dict, opset: int, since: int) -> list[int] | None:
    if opset >= since:
        return ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    return attrs.get("axes")


@op("Squeeze")
def _squeeze(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, axes = inputs[0], _axes(inputs, attrs, opset, 13)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.dim() for a in axes))


@op("Unsqueeze")
def _unsqueeze(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, axes = inputs[0], _axes(inputs, attrs, opset, 13)
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


@op("Concat")
def _concat(inputs: list, attrs: dict, opset: int) -> Tensor:
    parts = [t for t in inputs if t is not None]
    device = next((t.device for t in parts if t.device.type != "cpu"), parts[0].device)
    return torch.cat([t.to(device) for t in parts], dim=attrs["axis"])


@op("Split")
def _split(inputs: list, attrs: dict, opset: int) -> tuple:
    x = inputs[0]
    axis = attrs.get("axis", 0)
    sizes = ints(inputs[1]) if opset >= 13 and len(inputs) > 1 and inputs[1] is not None else attrs.get("split")
    if not sizes:
        parts = attrs.get("num_outputs") or attrs["_outputs"]
        chunk = math.ceil(x.shape[axis] / parts)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    return tuple(torch.split(x, list(sizes), dim=axis))


@op("Slice")
def _slice(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    if opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = ints(inputs[1]), ints(inputs[2])
        axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
        steps = ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= x.dim()
        size = x.shape[axis]
        if step > 0:
            start = min(max(start + size if start < 0 else start, 0), size)
            end = min(max(end + size if end < 0 else end, 0), size)
            x = x.narrow(axis, start, max(end - start, 0))[(slice(None),) * axis + (slice(None, None, step),)]
        else:
            start = min(max(start + size if start < 0 else start, -1), size - 1)
            end = min(max(end + size if end < 0 else end, -1), size - 1)
            index = torch.arange(start, end, step, device=x.device)
            x = x.index_select(axis, index)
    return x


@op("Gather")
def _gather(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, indices = inputs[0], inputs[1]
    axis = attrs.get("axis", 0) % x.dim()
    flat = indices.reshape(-1).to(device=x.device, dtype=torch.int64)
    flat = torch.where(flat < 0, flat + x.shape[axis], flat)
    picked = x.index_select(axis, flat)
    return picked.reshape((*x.shape[:axis], *indices.shape, *x.shape[axis + 1:]))


@op("Expand")
def _expand(inputs: list, attrs: dict, opset: int) -> Tensor:
    x, shape = inputs[0], ints(inputs[1])
    target = torch.broadcast_shapes(tuple(x.shape), tuple(shape))
    return x.expand(target)


@op("Tile")
def _tile(inputs: list, attrs: dict, opset: int) -> Tensor:
    return inputs[0].repeat(ints(inputs[1]))


@op("Range")
def _range(inputs: list, attrs: dict, opset: int) -> Tensor:
    start, limit, delta = (t.item() for t in inputs)
    return torch.arange(start, limit, delta, dtype=inputs[0].dtype, device=inputs[0].device)


@op("Pad")
def _pad(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    if opset < 11:
        pads, value = list(attrs["pads"]), attrs.get("value", 0.0)
    else:
        pads = ints(inputs[1])
        value = inputs[2].item() if len(inputs) > 2 and inputs[2] is not None else 0.0
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    rank = x.dim()
    if len(inputs) > 3 and inputs[3] is not None:
        raise NotImplementedError("Pad with axes")
    begin, end = pads[:rank], pads[rank:]
    leading = next((i for i in range(rank) if begin[i] or end[i]), rank)  # F.pad pads trailing axes only
    spec = _torch_pad(begin[leading:] + end[leading:])
    if mode == "constant":
        return F.pad(x, spec, value=value)
    return F.pad(x, spec, mode={"reflect": "reflect", "edge": "replicate"}[mode])


def _reduce(fn: Callable[..., Tensor], since: int) -> OpFn:
    def run(inputs: list, attrs: dict, opset: int) -> Tensor:
        x = inputs[0]
        axes = _axes(inputs, attrs, opset, since)
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return fn(x, dim=tuple(a % x.dim() for a in axes), keepdim=keep)
    return run


OPS.update(
    ReduceMean=_reduce(torch.mean, 18), ReduceMax=_reduce(torch.amax, 18), ReduceMin=_reduce(torch.amin, 18),
    ReduceSum=_reduce(torch.sum, 13),
)


@op("ReduceL2")
def _reduce_l2(inputs: list, attrs: dict, opset: int) -> Tensor:
    return _reduce(lambda x, dim, keepdim: torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim), 18)(inputs, attrs, opset)


# --- Resize / Upsample ------------------------------------------------------------------------------------


@op("Upsample")
def _upsample(inputs: list, attrs: dict, opset: int) -> Tensor:
    scales = attrs.get("scales") if opset < 9 else inputs[1].reshape(-1).tolist()
    mode = attrs.get("mode", b"nearest")
    return _resize(inputs[0], [float(s) for s in scales], None, _text(mode), "asymmetric", "floor")


@op("Resize")
def _resize_op(inputs: list, attrs: dict, opset: int) -> Tensor:
    x = inputs[0]
    mode = _text(attrs.get("mode", b"nearest"))
    if opset < 11:  # Resize-10: X, scales; asymmetric coordinates, nearest rounds down
        return _resize(x, inputs[1].reshape(-1).tolist(), None, mode, "asymmetric", "floor")
    scales = inputs[2] if len(inputs) > 2 and inputs[2] is not None and inputs[2].numel() else None
    sizes = inputs[3] if len(inputs) > 3 and inputs[3] is not None and inputs[3].numel() else None
    transform = _text(attrs.get("coordinate_transformation_mode", b"half_pixel"))
    if transform == "tf_crop_and_resize" or attrs.get("antialias", 0) or "axes" in attrs:
        raise NotImplementedError(f"Resize with coordinate_transformation_mode={transform}, antialias or axes")
    if attrs.get("keep_aspect_ratio_policy", b"stretch") not in (b"stretch", "stretch"):
        raise NotImplementedError("Resize with keep_aspect_ratio_policy")
    return _resize(
        x, None if scales is None else scales.reshape(-1).tolist(), None if sizes is None else ints(sizes),
        mode, transform, _text(attrs.get("nearest_mode", b"round_prefer_floor")),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _resize(x: Tensor, scales: list[float] | None, sizes: list[int] | None, mode: str, transform: str,
            nearest_mode: str) -> Tensor:
    """ONNX Resize, one axis at a time (separable): nearest and (multi)linear, every coordinate transform."""
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"Resize mode {mode!r}")
    for axis, size in enumerate(x.shape):
        if sizes is not None:
            out, scale = sizes[axis], sizes[axis] / size
        else:
            scale = scales[axis]
            out = math.floor(size * scale)
        if out == size and scale == 1.0:
            continue
        coords = _source_coordinates(out, size, scale, transform)
        x = _nearest(x, axis, coords, size, nearest_mode) if mode == "nearest" else _linear(x, axis, coords, size)
    return x


def _source_coordinates(out: int, size: int, scale: float, transform: str) -> Tensor:
    """Where each output index samples the input, in float64 on the CPU (MPS has no float64)."""
    o = torch.arange(out, dtype=torch.float64)
    if transform == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if transform == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out > 1 else torch.zeros_like(o)
    if transform == "align_corners":
        return o * ((size - 1) / (out - 1)) if out > 1 else torch.zeros_like(o)
    if transform == "asymmetric":
        return o / scale
    if transform == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    if transform == "half_pixel_symmetric":
        adjustment = out / (size * scale)
        centre = size / 2 * (1 - adjustment)
        return centre + (o + 0.5) / scale - 0.5
    raise NotImplementedError(f"Resize coordinate_transformation_mode {transform!r}")


def _nearest(x: Tensor, axis: int, coords: Tensor, size: int, nearest_mode: str) -> Tensor:
    if nearest_mode == "floor":
        index = torch.floor(coords)
    elif nearest_mode == "ceil":
        index = torch.ceil(coords)
    elif nearest_mode == "round_prefer_ceil":
        index = torch.floor(coords + 0.5)
    elif nearest_mode == "round_prefer_floor":
        index = torch.ceil(coords - 0.5)
    else:
        raise NotImplementedError(f"Resize nearest_mode {nearest_mode!r}")
    return x.index_select(axis, index.clamp(0, size - 1).long().to(x.device))


def _linear(x: Tensor, axis: int, coords: Tensor, size: int) -> Tensor:
    coords = coords.clamp(0, size - 1)
    low = torch.floor(coords).long()
    high = (low + 1).clamp(max=size - 1)
    shape = [1] * x.dim()
    shape[axis] = -1
    weight = (coords - low).to(device=x.device, dtype=x.dtype).reshape(shape)
    a, b = x.index_select(axis, low.to(x.device)), x.index_select(axis, high.to(x.device))
    return a + (b - a) * weight
