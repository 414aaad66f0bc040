"""Request bodies checked before a route accepts them, against the route's schema in
openapi.yaml (the one description of the API, so the file and the checks cannot drift apart).

A body that is not UTF-8, not JSON, not an object, or that has an unknown field or a value of
the wrong type is a 400 naming the field, before any run or sweep starts: never a 500 from
deep inside, never a 202 and then a failure in the background.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ..errors import MlpipeError

SPEC = Path(__file__).with_name("openapi.yaml")
TYPE_WORDS = {"string": "a string", "object": "an object", "array": "a list",
              "integer": "a whole number", "number": "a number", "boolean": "true or false"}
MAX_SHOWN = 200  # characters of a bad value quoted back: a 1 MB name is not echoed whole


class RequestError(MlpipeError):
    """A request's parameters or body are malformed (HTTP 400)."""


@functools.cache
def _validators() -> dict[tuple[str, str], tuple[Any, bool]]:
    """(route, method) -> (validator of its JSON body, whether a body is required)."""
    import jsonschema
    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    out = {}
    for route, operations in spec["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody") if isinstance(op, dict) else None
            if body:
                schema = body["content"]["application/json"]["schema"]
                jsonschema.Draft4Validator.check_schema(schema)  # OpenAPI 3.0: JSON Schema 4
                out[(route, method)] = (jsonschema.Draft4Validator(schema),
                                        bool(body.get("required")))
    return out


def json_body(raw: bytes, route: str, method: str = "post") -> dict[str, Any]:
    """The JSON object sent to `route` (as openapi.yaml names it), checked; RequestError if
    it is not what the schema describes."""
    validator, required = _validators()[(route, method)]
    if not raw.strip():
        if required:
            raise RequestError(f"{method.upper()} {route} needs a JSON object body; "
                               f"see openapi.yaml for its fields")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}):"
                           " send a JSON object encoded as UTF-8") from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise RequestError(f"the body is not JSON ({exc}): send a JSON object") from None
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, not {_kind(body)}")
    error = _first_error(validator, body)
    if error is not None:
        raise RequestError(error)
    return body


def _first_error(validator: Any, body: dict) -> str | None:
    import jsonschema

    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.absolute_path),
                                                                jsonschema.exceptions.relevance(e)))
    if not errors:
        return None
    error = errors[0]  # the outermost: "'only' must be a list", not what one branch of it wanted
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    field = f"'{where[1:]}'" if where else "the body"
    if error.validator == "additionalProperties" and not where:
        extra = sorted(set(body) - set(error.schema.get("properties", {})))
        known = ", ".join(error.schema.get("properties", {}))
        return (f"unknown field(s) {', '.join(_short(e) for e in extra)}: this route takes "
                f"{known}")
    value = _short(json.dumps(error.instance, default=repr))
    expected = error.schema.get("x-expected") if isinstance(error.schema, dict) else None
    if expected:
        return f"{field} must be {expected}, not {value}"
    rule = {"type": f"must be {TYPE_WORDS.get(str(error.validator_value), error.validator_value)}",
            "maxLength": f"must have at most {error.validator_value} characters",
            "minimum": f"must be at least {error.validator_value}",
            "maximum": f"must be at most {error.validator_value}",
            "maxItems": f"must have at most {error.validator_value} items",
            "minItems": f"must have at least {error.validator_value} item(s)",
            "maxProperties": f"must have at most {error.validator_value} entries",
            "minProperties": f"must have at least {error.validator_value} entry",
            "required": "misses a field",
            }.get(str(error.validator))
    if error.validator == "required":
        return f"the body misses {_short(error.message.split(' is a required')[0])}"
    if rule is None:
        return f"{field} is not valid: {_short(error.message)}"
    return f"{field} {rule}, not {value}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")
