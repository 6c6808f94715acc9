"""OpenAPI for msgspec Structs that refuse unknown fields (``additionalProperties: false``), and for
``POST /jobs``'s tagged union of task bodies (``oneOf`` with a ``discriminator``).

Request bodies (``housify_api.schemas.Input`` and the media bodies) are
``forbid_unknown_fields=True``, so the API answers 400 "Object contains unknown
field"; Litestar's own Struct schema leaves ``additionalProperties`` open, and
schemathesis found the schema promising bodies the API refuses. This plugin runs
before Litestar's built-in one (app plugins are asked first) and closes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

# Litestar's Struct schema builder has no public name; this subclass only adds one key to its result.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Discriminator, Reference
from litestar.plugins import OpenAPISchemaPlugin

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


class JobInSchemaPlugin(OpenAPISchemaPlugin):
    """``POST /jobs``'s body (:class:`housify_api.media.schemas.JobIn`) as ``oneOf`` the tasks' bodies with a
    ``discriminator`` on ``task`` (OpenAPI 3.1 §4.8.25): Litestar describes a union of Structs as a plain
    ``oneOf``. The ``text2img`` body's ``task`` is optional, as the API defaults it.
    """

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        from housify_api.media.schemas import JobIn

        return value is JobIn

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        from litestar.openapi.spec import Reference, Schema
        from litestar.typing import FieldDefinition

        from housify_ai.tasks import DEFAULT_TASK, TAG_FIELD
        from housify_api.media.schemas import JOB_BODIES

        members: list[Reference | Schema] = []
        refs: dict[str, Reference] = {}
        for task, body in JOB_BODIES.items():
            ref = schema_creator.for_field_definition(FieldDefinition.from_annotation(body))
            assert isinstance(ref, Reference)  # Structs become components
            members.append(ref)
            refs[task] = ref
            if task == DEFAULT_TASK:
                schema = schema_creator.schema_registry.from_reference(ref).schema
                schema.required = [name for name in schema.required or () if name != TAG_FIELD] or None
        return Schema(
            one_of=members,
            discriminator=_LateMapping(property_name=TAG_FIELD, refs=refs),
            description=f"``{TAG_FIELD}`` picks the job's kind and the fields it takes (left out: {DEFAULT_TASK}).",
        )


@dataclass
class _LateMapping(Discriminator):
    """A discriminator whose ``mapping`` is read from the members' references when the document is
    written: Litestar renames component schemas (shortest unique name) after the plugins ran."""

    refs: dict[str, Reference] = field(default_factory=dict)

    def to_schema(self) -> dict[str, Any]:
        self.mapping = {task: ref.ref for task, ref in self.refs.items()}
        schema = super().to_schema()
        schema.pop("refs", None)
        return schema
