"""Reading request bodies: size limit, content coding, media type, JSON (fast and strict), CSV,
schema validation.

A body may be compressed (``Content-Encoding: gzip`` or ``deflate``, as Triton's clients offer,
on every route); the size limit holds before and after inflating it, and any other coding is a
415. Our own API reads JSON only when the Content-Type says JSON (or says nothing): any other
type is a 415, never a misleading "malformed JSON". The TF Serving and KServe routes read JSON
whatever the Content-Type, as their servers do.

JSON is decoded with orjson. A document nested deeper than ``MAX_JSON_DEPTH`` arrays and objects
is refused first (400): no request of ours needs more, and every later step may recurse. Bodies
orjson refuses (NaN/Infinity literals, integers beyond 64 bits) and bodies that may hold a
duplicate key are decoded again with the standard library in strict mode, so the client learns
exactly what is wrong: NaN becomes a 422 naming the field, everything else malformed a 400. A
``true`` or ``false`` inside an array is not a number: it is replaced by a ``JsonBoolean``,
which every numeric check refuses by its path (Python alone would take it for 1 or 0 among
numbers).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import numpy as np
import orjson
from flask import Request, current_app, request
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, NoMoreData
from marshmallow import Schema, ValidationError

from models import csv_table
from models.tabular import CellError, Table
from service.arrays import JsonBoolean
from service.errors import (
    BadRequest,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
    field_error,
    invalid_fields,
)

# Every JSON string, escapes included: consumed whole, so a quote, bracket or colon inside a
# string is never mistaken for structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{}:tf")
# Integers beyond 64 bits become floats, as orjson reads them; beyond a double's range they are
# refused.
_MAX_INT_DIGITS = 308
# Content-Encoding -> zlib's wbits (RFC 9110 asks recipients to take x-gzip as gzip).
_CODINGS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
# Arrays and objects inside one another, counting the outermost. Our deepest document (V2 tensor
# data in a row-major nest, under inputs[]) needs a few; numpy refuses more than 64 dimensions.
MAX_JSON_DEPTH = 64


def raw_body(req: Request | None = None) -> bytes:
    """The request body, refusing more than ``max_body_mb`` with 413 before reading it all.

    A body that ends before its ``Content-Length``, or a chunked one without its last chunk,
    is a 400: the client went away mid-request, and half a data set is not one.
    """
    req = req or request
    environ = req.environ  # one context lookup, not one per use
    limit = current_app.config["NNSERVE"].max_body_bytes
    header = environ.get("CONTENT_LENGTH")
    if not header:  # chunked: werkzeug's stream knows where it ends
        try:
            data = req.stream.read(limit + 1)
        except (NoMoreData, ChunkMissingTerminator, InvalidChunkSize) as exc:
            raise BadRequest("the chunked request body ended before its last chunk "
                             f"({type(exc).__name__})") from None
        if len(data) > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes "
                                  "(NNSERVE_MAX_BODY_MB)")
        return data
    try:
        length = int(header)
    except ValueError:
        length = -1
    if length < 0:
        raise BadRequest(f"Content-Length {header[:20]!r} is not a byte count")
    if length > limit:
        raise PayloadTooLarge(f"request body is {length} bytes; the limit is {limit} bytes "
                              "(NNSERVE_MAX_BODY_MB)")
    # Straight from the server's stream (WSGI lets us read exactly Content-Length bytes): the
    # werkzeug wrappers cost more than the read on small bodies.
    stream = environ["wsgi.input"]
    if type(stream) is Body and type(stream.reader) is LengthReader and not stream.buf.tell():
        # gunicorn's Body.read(n) pulls 1 KiB at a time through two buffers; its LengthReader
        # takes socket-sized chunks. Nothing was read through Body yet, so its buffer is empty.
        data = stream.reader.read(length)
    else:
        data = stream.read(length)
    if len(data) < length:
        raise BadRequest(f"request body ended after {len(data)} of the {length} bytes its "
                         "Content-Length declares")
    return data


def parse_json(data: bytes) -> object:
    """Decode a JSON document; malformed → 400 saying where, duplicate keys → 400."""
    if not data.strip():
        raise BadRequest("request body is empty; expected a JSON document")
    structure = _structure(data)
    _check_depth(structure)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = _parse_strict(data)
    else:
        if structure.count(b":") != _count_tree_keys(doc):  # a duplicate key collapsed
            doc = _parse_strict(data)
    if _booleans_in_arrays(structure):
        _mark_booleans_in_arrays(doc)
    return doc


def request_body(req: Request | None = None) -> bytes:
    """The body with its content coding undone: :func:`raw_body`, inflated when compressed."""
    req = req or request
    data = raw_body(req)
    coding = req.headers.get("Content-Encoding", "").strip().lower()
    if coding in ("", "identity"):
        return data
    if coding not in _CODINGS:
        raise UnsupportedMediaType(f"Content-Encoding {coding[:32]!r} is not supported; "
                                   "send gzip, deflate or an uncompressed body")
    limit = current_app.config["NNSERVE"].max_body_bytes
    inflater = zlib.decompressobj(_CODINGS[coding])
    try:
        inflated = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid {coding} data: {exc}") from None
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body exceeds the limit of {limit} bytes "
                              "(NNSERVE_MAX_BODY_MB)")
    if not inflater.eof:
        raise BadRequest(f"the {coding} body is truncated")
    return inflated


def is_json(mimetype: str) -> bool:
    """``application/json`` or a ``+json`` type such as ``application/merge-patch+json``."""
    return mimetype == "application/json" or mimetype.endswith("+json")


def json_body() -> object:
    """Our own API's JSON body: a Content-Type other than JSON (none counts as JSON) is a 415."""
    mimetype = request.mimetype
    if mimetype and not is_json(mimetype):
        raise UnsupportedMediaType(f"Content-Type {mimetype[:64]!r} is not accepted; "
                                   "send application/json")
    return parse_json(request_body())


def json_object() -> dict[str, Any]:
    doc = json_body()
    if not isinstance(doc, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(doc).__name__}")
    return doc


def load(schema: Schema, doc: dict[str, Any]) -> dict[str, Any]:
    """Validate ``doc`` against ``schema``; failures → 422 with every field path and message."""
    try:
        return schema.load(doc)
    except ValidationError as exc:
        raise invalid_fields(flatten_messages(exc.messages)) from None


def flatten_messages(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"data.features": ["..."]}``."""
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and not isinstance(key, int) else (
                f"{prefix}[{key}]" if prefix else str(key))
            out.update(flatten_messages(value, path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": list(messages)}
    return {prefix or "_body": [str(messages)]}


CSV_TYPES = ("text/csv", "application/csv")


def read_csv(data: bytes) -> Table:
    """A CSV with a header row as a text ``Table`` (``models.csv_table.read_csv``).

    Malformed text is a 400; a row whose cell count differs from the header's is a 422 naming
    its line (the header is line 1).
    """
    try:
        return csv_table.read_csv(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"malformed CSV: {exc}") from None
    except csv_table.CsvError as exc:
        raise BadRequest(str(exc)) from None
    except CellError as exc:
        raise field_error(f"csv line {(exc.row or 0) + 2}", str(exc)) from None


def parse_csv(data: bytes, label_column: str | None) -> tuple[Table, list[str]]:
    """Split a CSV with a header row into (features as a text ``Table``, labels).

    The label column is ``label_column`` or, when not given, a column named ``label`` or else
    the last one. Feature cells stay text, for the job layer to read.
    """
    table = read_csv(data)
    if label_column is None:
        label_column = "label" if "label" in table.names else table.names[-1]
    if label_column not in table.names:
        raise Unprocessable(f"label_column: no column {label_column!r} in the CSV header",
                            errors={"label_column": [f"no column {label_column!r} in the header"]})
    at = table.names.index(label_column)
    labels = [cell.strip() for cell in table.columns[at]]
    return Table(table.names[:at] + table.names[at + 1:],
                 table.columns[:at] + table.columns[at + 1:], text=True), labels


def _structure(data: bytes) -> bytes:
    """The bytes outside strings that tell a JSON text's shape: brackets, colons, ``t``, ``f``.

    Outside strings a colon only ever follows a key, a ``t`` only belongs to ``true`` and an
    ``f`` only to ``false``. Without escapes the quotes pair up in order, so strings are the odd
    pieces between them (splitting is memchr-fast; a regex steps through every byte).
    ``bytes.translate`` then keeps the few structural bytes at C speed, and the checks below run
    on that short string.
    """
    text = b"".join(data.split(b'"')[::2]) if b"\\" not in data else _STRING.sub(b"", data)
    return text.translate(None, _NOT_STRUCTURE)


def _check_depth(structure: bytes) -> None:
    """400 when arrays and objects nest deeper than ``MAX_JSON_DEPTH``."""
    if structure.count(b"[") + structure.count(b"{") <= MAX_JSON_DEPTH:
        return  # too few to nest that deep: spares the running sum on most requests
    brackets = np.frombuffer(structure.translate(None, b":tf"), dtype=np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    if int(np.cumsum(steps).max()) > MAX_JSON_DEPTH:
        raise BadRequest(f"malformed JSON: nested too deeply (more than {MAX_JSON_DEPTH} levels "
                         "of arrays and objects)")


def _booleans_in_arrays(structure: bytes) -> bool:
    """Whether a ``true`` or ``false`` is an array element (``_structure``'s bytes: each
    literal left one ``t`` or ``f``). An object member's value follows its key's colon, so a
    body whose booleans are all members (records) is not walked."""
    rest = structure.replace(b":t", b"").replace(b":f", b"")
    return b"t" in rest or b"f" in rest


def _mark_booleans_in_arrays(node: object) -> None:
    """Replace, in place, every boolean that is an element of an array by a ``JsonBoolean``.

    No array of ours holds booleans (features, labels, shapes, layer sizes: numbers or
    strings), while flags are object members, which stay as they are.
    """
    if isinstance(node, dict):
        for value in node.values():
            if isinstance(value, list | dict):
                _mark_booleans_in_arrays(value)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, bool):
                node[i] = JsonBoolean(item)
            elif isinstance(item, list | dict):
                _mark_booleans_in_arrays(item)


def _count_tree_keys(doc: object) -> int:
    """Object keys in a decoded document; lists of numbers (or rows of them) are skipped whole.

    A skipped list holding an object makes the counts differ, which only sends the body down the
    strict path: it never lets a duplicate through.
    """
    if isinstance(doc, dict):
        return len(doc) + sum(_count_tree_keys(v) for v in doc.values())
    if isinstance(doc, list) and doc:
        first = doc[0]
        if isinstance(first, int | float) or (
                isinstance(first, list) and first and isinstance(first[0], int | float)):
            return 0
        return sum(_count_tree_keys(v) for v in doc)
    return 0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadRequest(f"malformed JSON: duplicate key {key!r} in one object")
        out[key] = value
    return out


def _bounded_int(text: str) -> int | float:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise BadRequest(f"malformed JSON: integer {text[:24]}... is too large")
    return int(text) if digits < 19 else float(text)


def _parse_strict(data: bytes) -> object:
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_int=_bounded_int,
                          parse_constant=float)
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
