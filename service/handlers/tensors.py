"""KServe V2 tensors to and from NumPy (transport-free), with the binary tensor data extension.

Binary tensor data (Triton's ``binary_tensor_data`` extension): the body is the JSON header,
whose length the ``Inference-Header-Content-Length`` header gives, followed by each binary
tensor's bytes in the order the tensors appear in the JSON, little-endian, row-major, without
padding; a BYTES element is a 4-byte little-endian length followed by its bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from service.errors import BadRequest

HEADER_LENGTH = "Inference-Header-Content-Length"

NUMERIC: dict[str, np.dtype] = {
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "INT8": np.dtype("i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "UINT8": np.dtype("u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
}
OTHER_DATATYPES = ("BOOL", "BYTES", "BF16")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary tensor data) of a request body."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise BadRequest(f"{HEADER_LENGTH}: {header_length[:32]!r} must be the length in bytes "
                         f"of the JSON header, at most the body's {len(body)} bytes")
    return body[:int(text)], body[int(text):]


class BinaryData:
    """The binary tensor data after the JSON header, handed out tensor by tensor."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = memoryview(data), 0

    def take(self, size: int, field: str) -> memoryview:
        if self.offset + size > len(self.data):
            raise BadRequest(f"{field}: binary_data_size is {size} bytes but only "
                             f"{len(self.data) - self.offset} bytes of binary data are left")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def finish(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise BadRequest(f"{left} bytes of binary data follow the JSON header but no input "
                             "claims them (parameters.binary_data_size)")


def _shape(value: Any, field: str) -> list[int]:
    if not isinstance(value, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**63 for d in value):
        raise BadRequest(f"{field}.shape: must be a list of non-negative integers")
    return value


def _datatype(value: Any, field: str) -> np.dtype:
    if not isinstance(value, str):
        raise BadRequest(f"{field}.datatype: must be a string, one of {', '.join(NUMERIC)}")
    if value in NUMERIC:
        return NUMERIC[value]
    if value in OTHER_DATATYPES:
        raise BadRequest(f"{field}.datatype: {value} is not supported; features are numbers: "
                         f"{', '.join(NUMERIC)}")
    raise BadRequest(f"{field}.datatype: unknown datatype {str(value)[:32]!r}; use one of "
                     f"{', '.join(NUMERIC)}")


def _from_json(data: Any, dtype: np.dtype, datatype: str, field: str) -> np.ndarray:
    if not isinstance(data, list):
        raise BadRequest(f"{field}.data: must be a list of numbers (flat or nested row-major)")
    try:
        arr = np.asarray(data)
    except ValueError:
        raise BadRequest(f"{field}.data: nested lists must be regular (one length per "
                         "dimension)") from None
    if arr.size and arr.dtype.kind not in "iuf":
        raise BadRequest(f"{field}.data: must hold numbers only for datatype {datatype}")
    if dtype.kind in "iu" and arr.size:
        if arr.dtype.kind == "f":
            raise BadRequest(f"{field}.data: datatype {datatype} needs integers")
        info = np.iinfo(dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise BadRequest(f"{field}.data: values out of range for datatype {datatype}")
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dtype)


def decode_input(spec: Any, index: int, binary: BinaryData,
                 cells: bool = False) -> tuple[str, np.ndarray]:
    """(name, array of the declared shape) of one ``$request_input``.

    With ``cells`` (a model trained on tabular data) BYTES and BOOL tensors are read too, as
    object arrays of ``str`` and ``bool``: a categorical or boolean feature's column.
    """
    field = f"inputs[{index}]"
    if cells and isinstance(spec, dict) and spec.get("datatype") in ("BYTES", "BOOL"):
        name = spec.get("name")
        if not isinstance(name, str):
            raise BadRequest(f"{field}.name: must be a string")
        return name, _cell_tensor(spec, field, binary)
    if not isinstance(spec, dict):
        raise BadRequest(f"{field}: must be an object with name, shape, datatype and data")
    name = spec.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"{field}.name: must be a string")
    shape = _shape(spec.get("shape"), field)
    datatype = spec.get("datatype")
    dtype = _datatype(datatype, field)
    params = spec.get("parameters")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise BadRequest(f"{field}.parameters: must be an object")
    count = math.prod(shape)
    size = params.get("binary_data_size")
    if size is None:
        if "data" not in spec:
            raise BadRequest(f"{field}: needs data (or parameters.binary_data_size with the "
                             "tensor's bytes after the JSON header)")
        arr = _from_json(spec["data"], dtype, str(datatype), field)
        if arr.ndim > max(len(shape), 1):
            raise BadRequest(f"{field}.data: nested {arr.ndim} deep; give it flat or nested "
                             f"as its shape {shape}")
        if arr.size != count:
            raise BadRequest(f"{field}: shape {shape} holds {count} values but data has "
                             f"{arr.size}")
        return name, arr.reshape(shape)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadRequest(f"{field}.parameters.binary_data_size: must be a non-negative integer")
    if "data" in spec:
        raise BadRequest(f"{field}: give either data or parameters.binary_data_size, not both")
    if size != count * dtype.itemsize:
        raise BadRequest(f"{field}: binary_data_size is {size} bytes but shape {shape} of "
                         f"{datatype} needs {count * dtype.itemsize}")
    arr = np.frombuffer(binary.take(size, field), dtype=dtype)
    return name, arr.reshape(shape)


def _cell_tensor(spec: dict[str, Any], field: str, binary: BinaryData) -> np.ndarray:
    shape = _shape(spec.get("shape"), field)
    datatype = spec["datatype"]
    count = math.prod(shape)
    params = spec.get("parameters")
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or "data" in spec:
            raise BadRequest(f"{field}.parameters.binary_data_size: must be a non-negative "
                             "integer, without data")
        raw = bytes(binary.take(size, field))
        values: list[Any] = (_bytes_elements(raw, field) if datatype == "BYTES"
                             else [b != 0 for b in raw])
    else:
        data = spec.get("data")
        if not isinstance(data, list):
            raise BadRequest(f"{field}.data: must be a list of {datatype} values")
        values = _flat(data)
        want = str if datatype == "BYTES" else bool
        for at, value in enumerate(values):
            value = getattr(value, "value", value)  # a JSON boolean inside an array
            if not isinstance(value, want):
                raise BadRequest(f"{field}.data[{at}]: must be a "
                                 f"{'string' if want is str else 'boolean'} for {datatype}")
            values[at] = value
    if len(values) != count:
        raise BadRequest(f"{field}: shape {shape} holds {count} values but data has "
                         f"{len(values)}")
    arr = np.empty(count, dtype=object)
    arr[:] = values
    return arr.reshape(shape)


def _flat(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in data:
        out.extend(_flat(item) if isinstance(item, list) else [item])
    return out


def _bytes_elements(raw: bytes, field: str) -> list[str]:
    """The elements of a binary BYTES tensor: a 4-byte little-endian length, then the bytes."""
    values, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise BadRequest(f"{field}: binary BYTES data ends inside an element's length")
        (length,) = struct.unpack_from("<I", raw, at)
        chunk = raw[at + 4:at + 4 + length]
        if len(chunk) != length:
            raise BadRequest(f"{field}: binary BYTES data ends inside an element")
        try:
            values.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"{field}: a BYTES element is not UTF-8 text") from None
        at += 4 + length
    return values


def bytes_tensor(values: list[str]) -> bytes:
    """A BYTES tensor's binary form: each element's 4-byte little-endian length, then its bytes."""
    parts: list[bytes] = []
    for value in values:
        raw = value.encode()
        parts += (struct.pack("<I", len(raw)), raw)
    return b"".join(parts)
