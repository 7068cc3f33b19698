"""Deterministic serialisation of the generated files: stable key order, a trailing newline.

YAML keeps the order in which the renderers build their mappings (chosen for reading: ``alert``,
``expr``, ``for``, ``labels``, ``annotations``), with multi-line strings (PromQL) as literal blocks.
JSON dashboards are written with sorted keys, so a re-render is byte-identical.
"""

from __future__ import annotations

import json
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """A SafeDumper that writes multi-line strings as ``|`` blocks, indents lists under their key, never
    folds long lines (an annotation stays one line) and never writes aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # Shared label mappings must be written out in full, not as YAML anchors and aliases.
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def to_yaml(data: Any, header: str = "") -> str:
    """``data`` as YAML after ``header`` (each line of it made a ``#`` comment)."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)
    return comment + body


def to_json(data: Any) -> str:
    """``data`` as indented JSON with sorted keys and a trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
