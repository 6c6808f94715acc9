"""OpenAPI for msgspec Structs that refuse unknown fields: ``additionalProperties: false``.

Request bodies (``housify_api.schemas.Input`` and the media bodies) are
``forbid_unknown_fields=True``, so the API answers 400 "Object contains unknown
field"; Litestar's own Struct schema leaves ``additionalProperties`` open, and
schemathesis found the schema promising bodies the API refuses. This plugin runs
before Litestar's built-in one (app plugins are asked first) and closes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

# Litestar's Struct schema builder has no public name; this subclass only adds one key to its result.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schema plus ``additionalProperties: false`` for ``forbid_unknown_fields`` Structs."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
