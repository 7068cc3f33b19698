"""Checks of ``vendors.yaml``, and the unknown-vendor message shared with ``kanari onboard``."""

from __future__ import annotations

from collections.abc import Collection

from probe.config.places import VENDORS_FILE, dotted, where_in
from probe.config.schema import closest
from probe.config.vendors import Vendor
from probe.config.yamlfile import YamlDocument
from probe.errors import ConfigError

READBACK_PATH = "/kanari/v1"


def check_vendors(
    vendors: list[Vendor], document: YamlDocument | None, errors: list[ConfigError], warnings: list[str]
) -> dict[str, Vendor]:
    """Vendor ids are unique, read-back base URLs do not repeat the API's own path; returns the vendors
    by id (the first of a duplicated id)."""
    where = where_in(document, VENDORS_FILE)
    by_id: dict[str, Vendor] = {}
    first_index: dict[str, int] = {}
    for index, vendor in enumerate(vendors):
        if vendor.id in by_id:
            errors.append(
                ConfigError(
                    where(("vendors", index, "id")),
                    dotted("vendors", index, "id"),
                    vendor.id,
                    f"duplicate vendor id: vendors[{first_index[vendor.id]}] has it too",
                    "give each vendor one entry",
                )
            )
            continue
        by_id[vendor.id] = vendor
        first_index[vendor.id] = index
        if vendor.readback is not None and READBACK_PATH in vendor.readback.base_url:
            base = vendor.readback.base_url.split(READBACK_PATH, 1)[0]
            errors.append(
                ConfigError(
                    where(("vendors", index, "readback", "base_url")),
                    dotted("vendors", index, "readback", "base_url"),
                    vendor.readback.base_url,
                    f"must not include {READBACK_PATH}: Kanari appends "
                    f"{READBACK_PATH}/municipalities/... itself",
                    f"use base_url: {base}",
                )
            )
        if vendor.alert_receiver is None:
            warnings.append(
                f"{where(('vendors', index))}: vendor {vendor.id} has no alert_receiver; its alerts reach "
                "only the operations centre"
            )
    return by_id


def unknown_vendor(where: str, field: str, vendor_id: str, known: Collection[str]) -> ConfigError:
    """The error for a vendor id that ``vendors.yaml`` does not list (``config check`` and
    ``kanari onboard`` say the same)."""
    if not known:
        return ConfigError(
            where,
            field,
            vendor_id,
            "unknown vendor: vendors.yaml lists none",
            "add the vendor to vendors.yaml",
        )
    guess = closest(vendor_id, sorted(known))
    listed = "the vendors are " + ", ".join(sorted(known))
    return ConfigError(
        where,
        field,
        vendor_id,
        "unknown vendor: not in vendors.yaml",
        f"did you mean '{guess}'? ({listed})"
        if guess
        else f"{listed}; a new vendor is added to vendors.yaml first",
    )
