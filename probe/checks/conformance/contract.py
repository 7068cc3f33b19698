"""The read-back v1 contract as a machine checks it: the component schemas of the OpenAPI document
(``probe/checks/readback-openapi.yaml``, which ``docs/readback-openapi.yaml`` links to), validated with
jsonschema (a runtime dependency: the OpenAPI tools are for the tests only).

The document is package data so that an installed Kanari (the container image has no ``docs/``) checks
against the very document vendors read.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = "readback-openapi.yaml"
_URI = "urn:kanari:readback-openapi"
# Enough of a long list of schema violations to act on; the rest follow from the same mistake.
SHOWN_PROBLEMS = 3
# A violation's message quotes the offending value; a huge value is cut so one line stays readable.
MESSAGE_CHARS = 160


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, parsed."""
    text = resources.files("probe.checks").joinpath(DOCUMENT).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def version() -> str:
    """The contract's version (``info.version``), e.g. ``1.0.0``."""
    return str(document()["info"]["version"])


@functools.cache
def _validator(component: str) -> jsonschema.protocols.Validator:
    if component not in document()["components"]["schemas"]:
        raise KeyError(f"{DOCUMENT} has no schema {component!r}")
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(document(), default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{_URI}#/components/schemas/{component}"}
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator


def problems(body: Any, component: str) -> list[str]:
    """Where ``body`` breaks the schema ``component`` (``CanaryList``, ``Canary``), as
    ``canaries[0].channel: 'email' is not one of [...]``; empty when it conforms."""
    errors = sorted(_validator(component).iter_errors(body), key=lambda error: list(error.absolute_path))
    return [f"{_path(error.absolute_path)}: {_cut(error.message)}" for error in errors]


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the answer)"


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 3] + "..."
