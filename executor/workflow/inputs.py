"""A run's input, checked against the workflow's JSON Schema before the run is created.

Defaults are filled in first, so a template can rely on ``inputs.replicas`` existing when
the schema gives it a default, and a required property that has a default is satisfied.
"""

from __future__ import annotations

import copy
from typing import Any

from executor.errors import InputInvalid


def apply_input(schema: dict[str, Any] | None, value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults applied; `InputInvalid` lists every error."""
    if schema is None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InputInvalid([("$", "must be a JSON object")])
        return value
    value = copy.deepcopy(schema.get("default", {}) if value is None else value)
    _fill_defaults(schema, value)
    from jsonschema import Draft202012Validator  # here: slow to import, and not needed to start

    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda error: error.json_path)
    if errors:
        raise InputInvalid([(error.json_path, error.message) for error in errors])
    return value


def _fill_defaults(schema: Any, value: Any) -> None:
    """Add missing object properties that have a ``default``, depth first, in place."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return
        for name, subschema in properties.items():
            if name not in value and isinstance(subschema, dict) and "default" in subschema:
                value[name] = copy.deepcopy(subschema["default"])
            if name in value:
                _fill_defaults(subschema, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _fill_defaults(schema["items"], item)
