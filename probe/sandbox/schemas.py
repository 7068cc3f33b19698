"""KS's JSON schemas of ``bekymringsmelding.json``, read from outside the project.

The schemas carry no licence, so they are not copied into Kanari: the sandbox reads them from
``ks_schema_dir`` (``../shared/reference/ks-bekymringsmelding`` by default). They declare draft 2019-09
and refer to the address schema as ``../adresse.json``; resolved against the report schema's ``$id``
(``https://fiks.ks.no/bekymringsmelding.offentlig.v2.json``) that is ``https://fiks.ks.no/adresse.json``,
which is not the address schema's own ``$id``, so it is registered under both URIs in a
``referencing.Registry``. Nothing is ever fetched from the network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

log = logging.getLogger("probe.sandbox")

ApiVersion = Literal["v1", "v2"]
SCHEMA_FILES: dict[ApiVersion, str] = {
    "v1": "domain/offentlig.bekymringsmelding.v1.json",
    "v2": "domain/v2/offentlig.bekymringsmelding.v2.json",
}
ADDRESS_FILE = "domain/adresse.json"


class KsSchemas:
    """Validators of the public (``offentlig``) report, per API version."""

    def __init__(self, validators: Mapping[ApiVersion, jsonschema.protocols.Validator]) -> None:
        self._validators = dict(validators)

    def errors(self, version: ApiVersion, document: Any) -> list[str]:
        """Every schema violation of ``document`` (empty when it validates), as ``path: message``."""
        validator = self._validators[version]
        found = []
        for error in sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path)):
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            found.append(f"{where}: {error.message}")
        return found

    @classmethod
    def load(cls, directory: Path) -> KsSchemas | None:
        """The schemas under ``directory``, or ``None`` (with one warning) when they are missing."""
        try:
            address = json.loads((directory / ADDRESS_FILE).read_text(encoding="utf-8"))
            documents = {
                version: json.loads((directory / file).read_text(encoding="utf-8"))
                for version, file in SCHEMA_FILES.items()
            }
        except (OSError, json.JSONDecodeError) as error:
            log.warning(
                "sandbox: KS schemas not found under %s (%s); the simulated fagsystems only check that "
                "bekymringsmelding.json parses and has kommunenummer, bydelsnummer and melding. Set "
                "ks_schema_dir or KANARI_SANDBOX_KS_SCHEMA_DIR.",
                directory,
                error.__class__.__name__,
            )
            return None
        resource = Resource.from_contents(address, default_specification=DRAFT201909)
        registry: Registry[Any] = Registry().with_resources(
            [
                (address.get("$id", "https://fiks.ks.no/bekymringsmelding.adresse.json"), resource),
                # Where both ``../adresse.json`` (v2) and ``adresse.json`` (v1) resolve to.
                ("https://fiks.ks.no/adresse.json", resource),
            ]
        )
        validators: dict[ApiVersion, jsonschema.protocols.Validator] = {}
        for version, document in documents.items():
            validator_class = jsonschema.validators.validator_for(
                document, default=jsonschema.Draft201909Validator
            )
            validators[version] = validator_class(document, registry=registry)
        return cls(validators)
