"""A fast ``load`` for flat request schemas: the schema's own fields, without ``Schema.load``.

``Schema.load``'s machinery costs about as much as a 1-row prediction. Running the declared
fields one by one applies the same rules (types, validators, defaults), because they are the
schema's own field objects. Anything wrong, an unknown key or a failed field, goes through
``Schema.load`` itself, so errors read exactly as the schema words them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError
from marshmallow.utils import missing

from service.api.body import load


def schema_reader(schema: Schema) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``doc -> loaded dict`` for ``schema``: its fields run one by one; errors as ``load``.

    Only for schemas without hooks, nesting, ``data_key`` or schema-level validators, which
    this shortcut would skip: those are refused here.
    """
    fields = dict(schema.load_fields)
    if any(schema._hooks.values()) or any(
            f.data_key not in (None, name) or hasattr(f, "nested") for name, f in fields.items()):
        raise ValueError(f"{type(schema).__name__} is not flat: use body.load")
    known = fields.keys()

    def read(doc: dict[str, Any]) -> dict[str, Any]:
        if doc.keys() <= known:
            try:
                out = {name: field.deserialize(doc.get(name, missing))
                       for name, field in fields.items()}
            except ValidationError:
                pass
            else:
                return {name: value for name, value in out.items() if value is not missing}
        return load(schema, doc)

    return read
