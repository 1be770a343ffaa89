"""A JSON schema of the OpenLineage 2-0-2 RunEvent and of the facets the platform emits, written from
the specification (openlineage.io/spec/2-0-2/OpenLineage.json and spec/facets/*.json).

The official schema files are not installable here: no package on the reachable registries ships them
(openlineage-python, openlineage-integration-common and the Java client carry generated code only). So
this module restates, in our own words, what the spec requires: the event's required keys and formats,
every facet's `_producer`/`_schemaURL`, the versioned `_schemaURL` of each standard facet (the ones the
installed client was generated from), and each facet's own required fields and types.
"""

from __future__ import annotations

import jsonschema

# `format: uri` is not checked by jsonschema without an extra package: a pattern says it instead.
_URI = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"}


def _facet(name: str | None = None, body: dict | None = None, required: list[str] | None = None) -> dict:
    """A facet: the base facet's keys, and for a standard facet its versioned schema URL and body."""
    schema_url = dict(_URI)
    if name is not None:
        schema_url["pattern"] = (
            rf"^https://openlineage\.io/spec/facets/\d+-\d+-\d+/{name}\.json#/\$defs/{name}$"
        )
    schema = {
        "type": "object",
        "required": ["_producer", "_schemaURL", *(required or [])],
        "properties": {
            "_producer": _URI,
            "_schemaURL": schema_url,
            "_deleted": {"type": "boolean"},
            **(body or {}),
        },
    }
    return schema


_SCHEMA_FIELD: dict = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "type": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "ordinal_position": {"type": "integer", "minimum": 1},
        "fields": {"type": "array", "items": {"$ref": "#/$defs/schemaField"}},
    },
}
_INPUT_FIELD = {
    "type": "object",
    "required": ["namespace", "name", "field"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "field": {"type": "string", "minLength": 1},
        "transformations": {
            "type": "array",
            "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
        },
    },
}
_DATASET_FACETS = {
    "type": "object",
    "properties": {
        "schema": _facet(
            "SchemaDatasetFacet", {"fields": {"type": "array", "items": {"$ref": "#/$defs/schemaField"}}}
        ),
        "columnLineage": _facet(
            "ColumnLineageDatasetFacet",
            {
                "fields": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["inputFields"],
                        "properties": {
                            "inputFields": {"type": "array", "minItems": 1, "items": _INPUT_FIELD}
                        },
                    },
                }
            },
            required=["fields"],
        ),
        "dataQualityAssertions": _facet(
            "DataQualityAssertionsDatasetFacet",
            {
                "assertions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["assertion", "success"],
                        "properties": {
                            "assertion": {"type": "string", "minLength": 1},
                            "success": {"type": "boolean"},
                            "column": {"type": "string"},
                            "severity": {"type": "string"},
                        },
                    },
                }
            },
            required=["assertions"],
        ),
    },
    "additionalProperties": _facet(),
}
_OUTPUT_FACETS = {
    "type": "object",
    "properties": {
        "outputStatistics": _facet(
            "OutputStatisticsOutputDatasetFacet",
            {
                "rowCount": {"type": "integer", "minimum": 0},
                "size": {"type": "integer", "minimum": 0},
                "fileCount": {"type": "integer", "minimum": 0},
            },
        ),
    },
    "additionalProperties": _facet(),
}
_RUN_FACETS = {
    "type": "object",
    "properties": {
        "errorMessage": _facet(
            "ErrorMessageRunFacet",
            {
                "message": {"type": "string", "minLength": 1},
                "programmingLanguage": {"type": "string"},
                "stackTrace": {"type": ["string", "null"]},
            },
            required=["message", "programmingLanguage"],
        ),
    },
    "additionalProperties": _facet(),
}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "facets": _DATASET_FACETS,
        "inputFacets": {"type": "object", "additionalProperties": _facet()},
        "outputFacets": _OUTPUT_FACETS,
    },
}
RUN_EVENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"schemaField": _SCHEMA_FIELD},
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job", "eventType", "inputs", "outputs"],
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": _URI,
        "schemaURL": {"type": "string",
                      "pattern": r"^https://openlineage\.io/spec/\d+-\d+-\d+/OpenLineage\.json#/\$defs/RunEvent$"},
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _RUN_FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string", "minLength": 1},
                               "name": {"type": "string", "minLength": 1},
                               "facets": {"type": "object", "additionalProperties": _facet()}}},
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}  # fmt: skip

VALIDATOR = jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())


def errors(event: dict) -> list[str]:
    """Every violation in one event, as `path: message` lines (empty when the event is valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<event>'}: {e.message}"
        for e in VALIDATOR.iter_errors(event)
    ]
