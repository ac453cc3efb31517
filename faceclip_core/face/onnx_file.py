"""Reads .onnx model files without the `onnx` package: a protobuf wire-format reader for the few messages
a model needs (ModelProto, GraphProto, NodeProto, TensorProto, AttributeProto, ValueInfoProto).

Field numbers are those of onnx/onnx.proto; fields not listed there are skipped, as protobuf readers do.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# TensorProto.DataType -> numpy dtype (STRING, complex and 8-bit float types are not read).
TENSOR_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int8),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int16),
    6: np.dtype(np.int32),
    7: np.dtype(np.int64),
    9: np.dtype(np.bool_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float64),
    12: np.dtype(np.uint32),
    13: np.dtype(np.uint64),
}
BFLOAT16 = 16
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class OnnxFormatError(ValueError):
    """The bytes are not a readable ONNX model (truncated, not protobuf, or a feature this reader lacks)."""


@dataclass
class Attribute:
    name: str
    value: Any  # float, int, bytes, np.ndarray (a tensor), Graph, or a list of one of these


@dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    name: str = ""
    domain: str = ""


@dataclass
class ValueInfo:
    name: str
    elem_type: int = 0
    shape: list[int | str | None] | None = None  # None: no shape stated; a str is a named (dynamic) axis


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: list[ValueInfo] = field(default_factory=list)
    outputs: list[ValueInfo] = field(default_factory=list)
    name: str = ""


@dataclass
class Model:
    graph: Graph
    opset: int  # of the default ("" / "ai.onnx") domain
    ir_version: int = 0


def load_model(path: str | Path) -> Model:
    """The model in an .onnx file; OnnxFormatError when the bytes are not a complete ONNX model."""
    return parse_model(Path(path).read_bytes())


def parse_model(data: bytes) -> Model:
    try:
        return _model(memoryview(data))
    except OnnxFormatError:
        raise
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise OnnxFormatError(f"not a valid ONNX protobuf ({exc})") from exc


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of one message; a length-delimited value is a memoryview."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _BYTES:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise OnnxFormatError("a field runs past the end of the data (the file is truncated)")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == _FIXED32:
            value, pos = bytes(buf[pos:pos + 4]), pos + 4
        elif wire == _FIXED64:
            value, pos = bytes(buf[pos:pos + 8]), pos + 8
        else:
            raise OnnxFormatError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > end:
            raise OnnxFormatError("a field runs past the end of the data (the file is truncated)")
        yield number, wire, value


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise OnnxFormatError("malformed varint")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8")


def _ints(wire: int, value: Any) -> list[int]:
    """A repeated integer field's entries from one occurrence, packed or not."""
    if wire == _VARINT:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed(item))
    return out


def _floats(wire: int, value: Any, fmt: str = "f") -> list[float]:
    """A repeated float/double field's entries from one occurrence, packed or not."""
    if wire not in (_BYTES, _FIXED32, _FIXED64):
        raise OnnxFormatError(f"a float field has wire type {wire}")
    raw = bytes(value)
    return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))


def _model(buf: memoryview) -> Model:
    graph, opset, ir_version, seen = None, None, 0, False
    for number, wire, value in _fields(buf):
        seen = True
        if number == 1:
            ir_version = value
        elif number == 7:
            graph = _graph(value)
        elif number == 8:
            domain, version = "", 0
            for sub, _, sub_value in _fields(value):
                if sub == 1:
                    domain = _text(sub_value)
                elif sub == 2:
                    version = sub_value
            if domain in ("", "ai.onnx"):
                opset = version
    if not seen or graph is None:
        raise OnnxFormatError("no graph in the data (empty, or not an ONNX model)")
    return Model(graph=graph, opset=opset or 1, ir_version=ir_version)


def _graph(buf: memoryview) -> Graph:
    graph = Graph()
    for number, _, value in _fields(buf):
        if number == 1:
            graph.nodes.append(_node(value))
        elif number == 2:
            graph.name = _text(value)
        elif number == 5:
            name, array = _tensor(value)
            graph.initializers[name] = array
        elif number == 11:
            graph.inputs.append(_value_info(value))
        elif number == 12:
            graph.outputs.append(_value_info(value))
        elif number == 15:
            raise OnnxFormatError("sparse initializers are not supported")
    return graph


def _node(buf: memoryview) -> Node:
    node = Node(op_type="", inputs=[], outputs=[], attributes={})
    for number, _, value in _fields(buf):
        if number == 1:
            node.inputs.append(_text(value))
        elif number == 2:
            node.outputs.append(_text(value))
        elif number == 3:
            node.name = _text(value)
        elif number == 4:
            node.op_type = _text(value)
        elif number == 5:
            attribute = _attribute(value)
            node.attributes[attribute.name] = attribute.value
        elif number == 7:
            node.domain = _text(value)
    return node


def _attribute(buf: memoryview) -> Attribute:
    name, kind = "", 0
    single: dict[int, Any] = {}
    floats: list[float] = []
    ints: list[int] = []
    strings: list[bytes] = []
    tensors: list[np.ndarray] = []
    graphs: list[Graph] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            single[2] = struct.unpack("<f", value)[0]
        elif number == 3:
            single[3] = _signed(value)
        elif number == 4:
            single[4] = bytes(value)
        elif number == 5:
            single[5] = _tensor(value)[1]
        elif number == 6:
            single[6] = _graph(value)
        elif number == 7:
            floats += _floats(wire, value)
        elif number == 8:
            ints += _ints(wire, value)
        elif number == 9:
            strings.append(bytes(value))
        elif number == 10:
            tensors.append(_tensor(value)[1])
        elif number == 11:
            graphs.append(_graph(value))
        elif number == 20:
            kind = value
    # AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7, STRINGS 8,
    # TENSORS 9, GRAPHS 10. Old writers may leave the type out: take whichever field is set.
    by_kind = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}
    if kind in by_kind:
        return Attribute(name, single.get(by_kind[kind]))
    lists = {6: floats, 7: ints, 8: strings, 9: tensors, 10: graphs}
    if kind in lists:
        return Attribute(name, lists[kind])
    if single:
        return Attribute(name, next(iter(single.values())))
    return Attribute(name, floats or ints or strings or tensors or graphs)


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    data_type, name, raw = 0, "", None
    typed: dict[int, list] = {}
    for number, wire, value in _fields(buf):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            data_type = value
        elif number == 8:
            name = _text(value)
        elif number == 9:
            raw = value
        elif number in (5, 7, 11):  # int32_data, int64_data, uint64_data
            typed.setdefault(number, []).extend(_ints(wire, value) if number != 11 else _unsigned(wire, value))
        elif number == 4:
            typed.setdefault(4, []).extend(_floats(wire, value, "f"))
        elif number == 10:
            typed.setdefault(10, []).extend(_floats(wire, value, "d"))
        elif number == 14 and value == 1:
            raise OnnxFormatError(f"tensor {name or '?'} keeps its data in an external file, which is not supported")
        elif number == 6:
            raise OnnxFormatError(f"string tensor {name or '?'} is not supported")
    return name, _array(name, data_type, dims, raw, typed)


def _unsigned(wire: int, value: Any) -> list[int]:
    return [v & ((1 << 64) - 1) for v in _ints(wire, value)]


def _array(name: str, data_type: int, dims: list[int], raw: memoryview | None, typed: dict[int, list]) -> np.ndarray:
    count = int(np.prod(dims)) if dims else 1
    if data_type == BFLOAT16:
        bits = (np.frombuffer(raw, dtype=np.uint16) if raw is not None
                else np.array(typed.get(5, []), dtype=np.int64).astype(np.uint16))
        return (bits.astype(np.uint32) << 16).view(np.float32).reshape(dims)
    dtype = TENSOR_DTYPES.get(data_type)
    if dtype is None:
        raise OnnxFormatError(f"tensor {name or '?'} has data type {data_type}, which is not supported")
    if raw is not None:
        if len(raw) != count * dtype.itemsize:
            raise OnnxFormatError(f"tensor {name or '?'} holds {len(raw)} bytes, not the {count * dtype.itemsize} its shape needs")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)
    values = next((typed[k] for k in (4, 5, 7, 10, 11) if k in typed), [])
    if data_type == 10:  # float16 bits are kept in int32_data
        array = np.array(values, dtype=np.int64).astype(np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype=dtype)
    if array.size != count:
        raise OnnxFormatError(f"tensor {name or '?'} holds {array.size} values, not the {count} its shape needs")
    return array.reshape(dims)


def _value_info(buf: memoryview) -> ValueInfo:
    info = ValueInfo(name="")
    for number, _, value in _fields(buf):
        if number == 1:
            info.name = _text(value)
        elif number == 2:
            for type_field, _, tensor_type in _fields(value):
                if type_field == 1:  # tensor_type
                    _tensor_type(tensor_type, info)
    return info


def _tensor_type(buf: memoryview, info: ValueInfo) -> None:
    for number, _, value in _fields(buf):
        if number == 1:
            info.elem_type = value
        elif number == 2:
            info.shape = []
            for dim_field, _, dim in _fields(value):
                if dim_field != 1:
                    continue
                size: int | str | None = None
                for sub, _, sub_value in _fields(dim):
                    if sub == 1:
                        size = _signed(sub_value)
                    elif sub == 2:
                        size = _text(sub_value)
                info.shape.append(size)
