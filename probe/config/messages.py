"""pydantic's validation errors, retold for an operator reading them at 3 a.m.

pydantic says ``String should match pattern '^\\d{4}$'`` and ``Input should be a valid string``; an
operator needs ``must be the four-digit kommunenummer`` and ``YAML reads the unquoted 0301 as the number
193; put it in quotes``. Each error becomes a :class:`~probe.errors.ConfigError` naming the place
(``file:line``), the field as written (``contacts[0].email``), the value as written (never a secret's)
and a fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from probe.config.schema import Path, closest, fields_at, is_secret_path
from probe.config.types import not_shown
from probe.errors import ConfigError

REDACTED = "<redacted>"
# Values are shown to identify the line, not to be read in full; a pasted blob must not flood the report.
MAX_SHOWN = 120

# What a field's pattern means, by field name: (message, fix).
_PATTERNS: dict[str, tuple[str, str]] = {
    "kommunenummer": (
        "must be the four-digit kommunenummer",
        "write it in quotes, e.g. kommunenummer: '4601'",
    ),
    "organisasjonsnummer": (
        "must be the nine-digit organisation number",
        "write it in quotes, e.g. organisasjonsnummer: '964338531' (from Enhetsregisteret)",
    ),
    "bydel": (
        "must be a two-digit bydelsnummer",
        "write it in quotes, e.g. bydel: '03'; leave it out to use the default office",
    ),
    "vendor": (
        "a vendor id is 2-40 lower-case letters, digits and '-', starting with a letter",
        "use an id from vendors.yaml",
    ),
    "id": (
        "a vendor id is 2-40 lower-case letters, digits and '-', starting with a letter",
        "e.g. example-vendor; municipality files refer to the vendor by it",
    ),
    "email": ("not an e-mail address", "e.g. vakt@example.no"),
    "sender": ("not an e-mail address", "e.g. alertmanager@example.no"),
    "key_id": ("a key id is 1-64 letters, digits, '.', '_' or '-'", "e.g. kanari-2026-11"),
    "instance": ("an instance name is 1-64 letters, digits, '.', '_' or '-'", "e.g. kanari-prod"),
    "fiks_org_id": (
        "must be a UUID (Kanari's organisation id in Fiks)",
        "copy it from KS's Fiks configuration, e.g. 00000000-0000-4000-8000-000000000000",
    ),
    "smarthost": ("must be HOST:PORT", "e.g. smtp.example.no:587"),
    "env": (
        "the name after env: is not a variable name",
        "give the variable's name (letters, digits and '_'), e.g. {env: KANARI_FIKS_INTEGRASJON_PASSORD}, "
        "never the secret itself",
    ),
}

# How to write a field, for hints about a missing or mistyped one.
_EXAMPLES: dict[str, str] = {
    "kommunenummer": "kommunenummer: '4601'",
    "name": "name: Bergen (exactly as in the registry)",
    "vendor": "vendor: <an id from vendors.yaml>",
    "channels": "channels: {portal: {}, altinn: {}}",
    "contacts": "contacts: [{name: ..., email: ...}]",
    "vendors": "vendors: [{id: example-vendor, name: Example AS}]",
    "previous_public_keys": "previous_public_keys: [{key_id: ..., public_key_file: ...}]",
    "signing": "signing: {key_file: ..., key_id: ...} (see config/kanari.yaml)",
    "maskinporten": "maskinporten: {token_url: ..., audience: ..., client_id: ..., key_file: ...}",
}

_TYPE_NAMES = {dict: "a mapping", list: "a list", bool: "true/false", int: "a number", float: "a number"}

Where = Callable[[Path], str]
Written = Callable[[Path], str | None]


def field_name(location: Path) -> str:
    """A location as the operator would write it: ``channels.portal.bydel``, ``contacts[0].email``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def shown_value(value: Any, written: str | None, secret: bool) -> Any:
    """What to print as the offending value: never a secret, the text as written where known, a
    short placeholder for nested structures, at most :data:`MAX_SHOWN` characters."""
    if value is None and written is None:
        return None
    if secret:
        return REDACTED
    if isinstance(value, dict | list | tuple | set):
        return "<mapping>" if isinstance(value, dict) else "<list>"
    text = written if written is not None else value
    if isinstance(text, str) and len(text) > MAX_SHOWN:
        return text[:MAX_SHOWN] + "…"
    return text


def explain_validation_error(
    error: ValidationError, model: type[BaseModel], *, where: Where, written: Written
) -> list[ConfigError]:
    """One :class:`ConfigError` per error in ``error`` (raised validating ``model``)."""
    found: list[ConfigError] = []
    for detail in error.errors(include_url=False):
        raw = tuple(detail["loc"])
        # pydantic adds the tag of a validator or union member to the location; only real keys remain.
        location: Path = tuple(
            part
            for part in raw
            if isinstance(part, int) or not (part.startswith("function-") or part == "[key]")
        )
        kind = str(detail["type"])
        value = None if kind == "missing" else detail.get("input")
        problem = _Problem(
            detail=detail,
            kind=kind,
            location=location,
            value=value,
            written=written(location) if not isinstance(value, dict | list) else None,
            model=model,
        )
        secret = is_secret_path(model, location)
        if secret and kind == "string_type":
            # The generic explanation quotes what was written; inside a secret it must not.
            message, hint = "must be text", ""
        elif bool(raw) and raw[-1] == "[key]":
            message, hint = _bad_key(problem)
        else:
            message, hint = _EXPLAIN.get(kind, _as_pydantic_says)(problem)
        shown = shown_value(value, problem.written, secret)
        found.append(ConfigError(where(location), field_name(location), shown, message, hint))
    return found


@dataclasses.dataclass(frozen=True)
class _Problem:
    """One pydantic error with what is known about its place."""

    detail: Any
    kind: str
    location: Path
    value: Any
    written: str | None
    model: type[BaseModel]

    @property
    def name(self) -> str:
        return str(self.location[-1]) if self.location else ""

    @property
    def message(self) -> str:
        return str(self.detail["msg"]).removeprefix("Value error, ")

    @property
    def expected(self) -> list[str]:
        # pydantic lists allowed enum/literal values as "'portal' or 'altinn'".
        text = str((self.detail.get("ctx") or {}).get("expected", ""))
        return [part.strip(" '") for part in text.replace(" or ", ",").split(",") if part.strip(" '")]


Explanation = tuple[str, str]


def _as_pydantic_says(problem: _Problem) -> Explanation:
    return problem.message, ""


def _unknown_field(problem: _Problem) -> Explanation:
    return "unknown field", _fields_hint(problem.name, fields_at(problem.model, problem.location[:-1]))


def _missing(problem: _Problem) -> Explanation:
    return "required field is missing", "add " + _EXAMPLES.get(
        problem.name, f"{problem.name}: to this section"
    )


def _pattern(problem: _Problem) -> Explanation:
    if problem.name == "env" and isinstance(problem.value, str):
        # Only a secret reference has ``env``; what fails its pattern may be the secret itself.
        message, hint = _PATTERNS["env"]
        return f"{message} ({not_shown(problem.value)})", hint
    return _PATTERNS.get(problem.name, (problem.message, ""))


def _not_a_mapping(problem: _Problem) -> Explanation:
    name = problem.name
    example = (
        f"e.g. {_EXAMPLES[name]}"
        if name in _EXAMPLES
        else _fields_hint("", fields_at(problem.model, problem.location))
    )
    if problem.value is None:
        return "is empty", example if name in _EXAMPLES else f"give its fields or remove it; {example}"
    return "must be a mapping of fields, not " + _type_name(problem.value), example


def _not_a_list(problem: _Problem) -> Explanation:
    example = f"e.g. {_EXAMPLES[problem.name]}" if problem.name in _EXAMPLES else ""
    return "must be a list (one '- ' line per item), not " + _type_name(problem.value), example


def _choice(problem: _Problem) -> Explanation:
    value = problem.value
    guess = closest(value, problem.expected) if isinstance(value, str) else None
    return problem.message, f"did you mean '{guess}'?" if guess else ""


def _bad_key(problem: _Problem) -> Explanation:
    expected = problem.expected
    if expected:
        guess = closest(problem.name, expected)
        hint = f"did you mean '{guess}'? " if guess else ""
        return "unknown key", f"{hint}the keys here are " + ", ".join(expected)
    return f"not a valid key: {problem.message}", ""


def _not_text(problem: _Problem) -> Explanation:
    name, value, written = problem.name, problem.value, problem.written
    if isinstance(value, bool):
        text = written if written is not None else str(value).lower()
        return (
            f"YAML reads the unquoted {text} as {str(value).lower()}, not as text",
            f"put it in quotes: {name}: '{text}'",
        )
    if isinstance(value, int | float):
        text = written if written is not None else str(value)
        if text != str(value):
            # 0301 is octal in YAML 1.1; 1:30 is sexagesimal; both change the digits.
            return (
                f"YAML reads the unquoted {text} as the number {value}",
                f"put it in quotes: {name}: '{text}'",
            )
        return "must be text, not a number", f"put it in quotes: {name}: '{text}'"
    return f"must be text, not {_type_name(value)}", ""


def _fixed(message: str, hint: str = "") -> Callable[[_Problem], Explanation]:
    return lambda _problem: (message, hint)


_EXPLAIN: dict[str, Callable[[_Problem], Explanation]] = {
    "extra_forbidden": _unknown_field,
    "missing": _missing,
    "string_type": _not_text,
    "string_pattern_mismatch": _pattern,
    "string_too_short": _fixed("must not be empty"),
    "dict_type": _not_a_mapping,
    "model_type": _not_a_mapping,
    "model_attributes_type": _not_a_mapping,
    "list_type": _not_a_list,
    "bool_type": _fixed("must be true or false"),
    "bool_parsing": _fixed("must be true or false"),
    "int_type": _fixed("must be a whole number"),
    "int_parsing": _fixed("must be a whole number"),
    "int_from_float": _fixed("must be a whole number"),
    "float_type": _fixed("must be a number"),
    "float_parsing": _fixed("must be a number"),
    "enum": _choice,
    "literal_error": _choice,
    "recursion_loop": _fixed(
        "refers to itself (a YAML alias loop)", "write the value out instead of using an alias"
    ),
}


def _fields_hint(name: str, fields: list[str]) -> str:
    if not fields:
        return "remove it"
    guess = closest(name, fields) if name else None
    listed = "the fields here are " + ", ".join(fields)
    return f"did you mean '{guess}'? ({listed})" if guess else listed


def _type_name(value: Any) -> str:
    if value is None:
        return "empty"
    for kind, text in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return text
    return "text" if isinstance(value, str) else type(value).__name__
