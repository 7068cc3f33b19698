"""The simulated fagsystems: each fictional vendor's receiving system.

A fagsystem receives a report from Fiks IO the way a real one does: it refuses a report version its
office does not support (:attr:`probe.sandbox.assignment.Bydel.stottet_versjon`), decrypts the ASiC-E
with the private key of its Fiks IO account (:mod:`probe.sandbox.envelope`), reads and verifies the signed
container as KS's Java and .NET readers do (:mod:`probe.sandbox.container`), requires exactly
``bekymringsmelding.json`` and ``bekymringsmelding.pdf`` in it, validates the JSON against KS's schema of
the version it was sent in, checks that the report is addressed to the municipality and office it
arrived for, stores it, and only then sends the ``mottatt`` receipt; any failure sends ``feilet`` with a
message instead. Those importing Altinn mail also store the correspondences their municipality fetched.

What a real reader accepts although KS's contract says otherwise is accepted and counted in
:attr:`Fagsystems.deviations` (served at ``GET /admin/deviations``): an ASiC-E whose content key was
transported with RSAES-PKCS1-v1_5 instead of RSAES-OAEP is :data:`DEVIATION_CMS_PKCS1V15`.

A stored report is a canary when its text carries a marker ``KANARI1.<payload>.<signature>``; the
canary id is the payload's ``id``. The sandbox does not verify the marker's signature (Kanari does): a
vendor that hides canaries from case workers must verify it first (DESIGN 3.5).

Stores are written when the world is advanced past a report's arrival, possibly with registration times
still in the future (a slow vendor); read-back shows only registrations at or before now.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from probe.canary.marker import find_markers
from probe.clock import to_rfc3339
from probe.sandbox.assignment import VendorSpec, version_number
from probe.sandbox.certs import FiksPki
from probe.sandbox.container import ContainerError, read_container
from probe.sandbox.envelope import EnvelopeError, KeyTransport, open_envelope
from probe.sandbox.errors import SandboxError
from probe.sandbox.faults import FaultName, FaultRegistry
from probe.sandbox.schemas import ApiVersion, KsSchemas

# A report is a few kilobytes; refuse containers that would unpack to more than this (zip bombs).
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
# The files KS's producer client puts in every container, and nothing else.
REPORT_FILES = ("bekymringsmelding.json", "bekymringsmelding.pdf")
# Deviations from KS's contract that the real readers still accept (keys of ``Fagsystems.deviations``).
DEVIATION_CMS_PKCS1V15 = "cms_pkcs1v15"


@dataclasses.dataclass(frozen=True, slots=True)
class Canary:
    """The canary a stored report carries."""

    canary_id: str
    marker: str


def find_canary(text: str) -> Canary | None:
    """The first marker in ``text`` whose payload names a canary id, or ``None``."""
    for marker in find_markers(text):
        payload = marker.split(".")[1]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError):
            continue
        canary_id = decoded.get("id") if isinstance(decoded, dict) else None
        if isinstance(canary_id, str) and canary_id:
            return Canary(canary_id, marker)
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredReport:
    """One report (or imported correspondence) a fagsystem stored."""

    source_id: str
    channel: str
    kommunenummer: str
    registered_at: float
    canary: Canary | None

    def public(self) -> dict[str, str]:
        """The read-back API's canary object (only for canaries)."""
        if self.canary is None:
            raise ValueError("not a canary")
        return {
            "canaryId": self.canary.canary_id,
            "marker": self.canary.marker,
            "channel": self.channel,
            "registeredAt": to_rfc3339(self.registered_at),
        }


class VendorStore:
    """What one vendor's fagsystem has stored, per municipality."""

    def __init__(self, vendor: VendorSpec) -> None:
        self.vendor = vendor
        self._reports: dict[str, list[StoredReport]] = {}
        self._removed: dict[str, set[str]] = {}

    def add(self, report: StoredReport) -> None:
        """Store ``report``."""
        self._reports.setdefault(report.kommunenummer, []).append(report)

    def canaries(self, kommunenummer: str, since: float, now: float) -> list[StoredReport]:
        """Canaries registered for the municipality in ``[since, now]``, oldest first, duplicates kept,
        removed ones left out."""
        removed = self._removed.get(kommunenummer, set())
        found = [
            report
            for report in self._reports.get(kommunenummer, [])
            if report.canary is not None
            and report.canary.canary_id not in removed
            and since <= report.registered_at <= now
        ]
        return sorted(found, key=lambda report: report.registered_at)

    def canary(self, kommunenummer: str, canary_id: str, now: float) -> StoredReport | None:
        """The first registration of ``canary_id`` visible now, or ``None``."""
        for report in self.canaries(kommunenummer, float("-inf"), now):
            if report.canary is not None and report.canary.canary_id == canary_id:
                return report
        return None

    def remove(self, kommunenummer: str, canary_id: str, now: float) -> bool:
        """Hide ``canary_id`` from case workers and read-back (also registrations still to come);
        ``False`` if nothing with that id is visible now."""
        if self.canary(kommunenummer, canary_id, now) is None:
            return False
        self._removed.setdefault(kommunenummer, set()).add(canary_id)
        return True

    def prune(self, before: float) -> None:
        """Forget what was registered before ``before`` (the world's retention), and the removals of
        canaries no longer held."""
        for kommunenummer, reports in self._reports.items():
            kept = [report for report in reports if report.registered_at >= before]
            self._reports[kommunenummer] = kept
            removed = self._removed.get(kommunenummer)
            if removed:
                self._removed[kommunenummer] = removed & {r.canary.canary_id for r in kept if r.canary}

    def removed(self, kommunenummer: str) -> frozenset[str]:
        """The canary ids removed from view for the municipality and still held (for tests)."""
        return frozenset(self._removed.get(kommunenummer, ()))

    def reports(self, kommunenummer: str) -> list[StoredReport]:
        """Everything stored for the municipality, canary or not (for tests and inspection)."""
        return list(self._reports.get(kommunenummer, []))


@dataclasses.dataclass(frozen=True, slots=True)
class VendorBehaviour:
    """The vendor faults that applied to one delivery, evaluated at the instant it arrived."""

    slow: bool = False
    reject: bool = False
    without_store: bool = False
    duplicate: bool = False

    @classmethod
    def at(cls, faults: FaultRegistry, kommunenummer: str, instant: float) -> VendorBehaviour:
        """The vendor faults active for the municipality at ``instant``."""
        return cls(
            slow=faults.active_at(FaultName.VENDOR_SLOW, kommunenummer, instant),
            reject=faults.active_at(FaultName.VENDOR_REJECT, kommunenummer, instant),
            without_store=faults.active_at(FaultName.VENDOR_RECEIPT_WITHOUT_STORE, kommunenummer, instant),
            duplicate=faults.active_at(FaultName.VENDOR_DUPLICATE, kommunenummer, instant),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    """The fagsystem's answer to a delivery: ``mottatt`` (ok) or ``feilet`` with a message, sent at
    ``sent_at``."""

    ok: bool
    message: str
    sent_at: float


class ReportRejectedError(SandboxError):
    """A report the fagsystem cannot accept; the message goes into the ``feilet`` receipt."""


class Fagsystems:
    """Every vendor's fagsystem."""

    def __init__(
        self,
        pki: FiksPki,
        schemas: KsSchemas | None,
        vendors: Mapping[str, VendorSpec],
        slow_delay: float,
        duplicate_gap: float,
        *,
        deviations: collections.Counter[str] | None = None,
    ) -> None:
        self._pki = pki
        self._schemas = schemas
        self.stores = {vendor_id: VendorStore(vendor) for vendor_id, vendor in vendors.items()}
        self._slow_delay = slow_delay
        self._duplicate_gap = duplicate_gap
        # Shared with the world when it passes its own counter, so KS's deviations land in the same one.
        self.deviations: collections.Counter[str] = (
            collections.Counter() if deviations is None else deviations
        )

    def receive_report(
        self,
        vendor_id: str,
        *,
        kommunenummer: str,
        bydelsnummer: str,
        version: ApiVersion,
        stottet_versjon: int,
        encrypted_asice: bytes,
        report_id: str,
        arrived_at: float,
        behaviour: VendorBehaviour,
    ) -> Receipt:
        """Process a report handed over by Fiks IO to an office whose fagsystem accepts versions up to
        ``stottet_versjon``; returns the receipt to send."""
        processed_at = arrived_at + (self._slow_delay if behaviour.slow else 0.0)
        if behaviour.reject:
            return Receipt(False, "Fagsystemet kunne ikke ta imot bekymringsmeldingen.", processed_at)
        if version_number(version) > stottet_versjon:
            # Known from the Fiks IO message type, before anything is decrypted.
            message = (
                f"Fagsystemet støtter ikke versjon {version_number(version)} av bekymringsmelding "
                f"(støtter til og med versjon {stottet_versjon})"
            )
            return Receipt(False, message, processed_at)
        try:
            document = self.read_report(vendor_id, kommunenummer, bydelsnummer, version, encrypted_asice)
        except ReportRejectedError as error:
            return Receipt(False, str(error), processed_at)
        if not behaviour.without_store:
            canary = find_canary(document)
            self._store(
                vendor_id, StoredReport(report_id, "portal", kommunenummer, processed_at, canary), behaviour
            )
        return Receipt(True, "", processed_at)

    def import_correspondence(
        self,
        vendor_id: str,
        *,
        kommunenummer: str,
        correspondence_id: str,
        text: str,
        fetched_at: float,
        import_delay: float,
        behaviour: VendorBehaviour,
    ) -> None:
        """Import a fetched Altinn correspondence into the fagsystem. ``vendor.reject`` and
        ``vendor.receipt_without_store`` both mean nothing is stored (there is no receipt on this path)."""
        if behaviour.reject or behaviour.without_store:
            return
        registered_at = fetched_at + import_delay + (self._slow_delay if behaviour.slow else 0.0)
        canary = find_canary(text)
        self._store(
            vendor_id,
            StoredReport(correspondence_id, "altinn", kommunenummer, registered_at, canary),
            behaviour,
        )

    def _store(self, vendor_id: str, report: StoredReport, behaviour: VendorBehaviour) -> None:
        store = self.stores[vendor_id]
        store.add(report)
        if behaviour.duplicate:
            store.add(dataclasses.replace(report, registered_at=report.registered_at + self._duplicate_gap))

    def read_report(
        self, vendor_id: str, kommunenummer: str, bydelsnummer: str, version: ApiVersion, encrypted: bytes
    ) -> str:
        """Decrypt, unpack and check a delivered report; returns ``bekymringsmelding.json``'s text or
        raises :class:`ReportRejectedError` with the ``feilet`` message."""
        certificate = self._pki.fiks_io_certificate(kommunenummer, bydelsnummer, vendor_id)
        try:
            opened = open_envelope(encrypted, certificate, self._pki.vendor_key(vendor_id))
        except EnvelopeError as error:
            # The readers' own messages ("CMS: ...", "ASiC-E: ...") say what failed at which layer.
            raise ReportRejectedError(str(error)) from None
        if opened.key_transport is KeyTransport.PKCS1V15:
            self.deviations[DEVIATION_CMS_PKCS1V15] += 1
        try:
            files = read_container(opened.content, MAX_UNPACKED_BYTES).files
        except ContainerError as error:
            raise ReportRejectedError(str(error)) from None
        missing = [name for name in REPORT_FILES if name not in files]
        if missing:
            raise ReportRejectedError(f"ASiC-E-containeren mangler {', '.join(missing)}")
        extra = [name for name in files if name not in REPORT_FILES]
        if extra:
            raise ReportRejectedError(f"ASiC-E-containeren har ukjente filer: {', '.join(extra[:5])}")
        try:
            text = files["bekymringsmelding.json"].decode("utf-8")
            document = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ReportRejectedError("Kunne ikke parse JSON-filen bekymringsmelding.json") from None
        if not isinstance(document, dict):
            raise ReportRejectedError("bekymringsmelding.json er ikke et JSON-objekt")
        self._validate(version, document)
        if document.get("kommunenummer") != kommunenummer or document.get("bydelsnummer") != bydelsnummer:
            raise ReportRejectedError(
                f"Meldingen er adressert til {document.get('kommunenummer')}/{document.get('bydelsnummer')}, "
                f"men levert til {kommunenummer}/{bydelsnummer}"
            )
        return text

    def _validate(self, version: ApiVersion, document: dict[str, Any]) -> None:
        if self._schemas is not None:
            errors = self._schemas.errors(version, document)
            if errors:
                raise ReportRejectedError(
                    "bekymringsmelding.json følger ikke skjemaet: " + "; ".join(errors[:5])
                )
            return
        # Without KS's schemas (not shipped with Kanari), check what the fagsystem itself needs.
        melding = document.get("melding")
        if (
            not isinstance(document.get("kommunenummer"), str)
            or not isinstance(document.get("bydelsnummer"), str)
            or not isinstance(melding, dict)
        ):
            raise ReportRejectedError(
                "bekymringsmelding.json mangler kommunenummer, bydelsnummer eller melding"
            )
