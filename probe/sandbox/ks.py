"""KS's side of the portal channel: reports accepted by the producer API and their status progression.

A report's timeline is drawn when it is accepted and worked out lazily: every observation first advances
the report to the clock's ``now``, evaluating faults at the instant each step was due. Steps:

1. ``AKSEPTERT`` at acceptance.
2. ``SENDT_FAGSYSTEM`` after the KS delay; postponed while ``portal.stall`` applies (it resumes at the
   instant the fault is cleared).
3. Fiks IO delivers it to the vendor's fagsystem after the hand-over delay; under ``portal.handover_lost``
   at that instant it is never delivered (the status stays ``SENDT_FAGSYSTEM`` for good). While
   ``vendor.down`` applies the message waits in Fiks IO (still ``SENDT_FAGSYSTEM``) and is delivered at
   the instant the fault is cleared; it does not expire.
4. The fagsystem processes it (:mod:`probe.sandbox.fagsystem`), refusing among other things a report
   version its office does not support, and its receipt reaches KS after the receipt delay:
   ``mottatt`` → ``LEVERT``; ``feilet`` → ``AVVIST_FAGSYSTEM`` and, after the print delay,
   ``SENDT_PRINT`` (KS's fallback to paper post).
5. After paper post, KS still ends the history with ``LEVERT``, once the letter has been handed to the
   post: KS documents ``LEVERT`` as always the last state, "levert fagsystem eller sendt som brevpost".
   That hand-over takes the report's print delay again (the same draw: it is the print provider's
   turnaround both times, and a further draw would shift every later report's seeded timeline). So a
   history with ``SENDT_PRINT`` before ``LEVERT`` is a report that reached the office on paper, never a
   receipt from its fagsystem (DESIGN 2).
"""

from __future__ import annotations

import dataclasses
import enum
import random
import uuid

from probe.clock import Clock
from probe.sandbox.delays import Delays
from probe.sandbox.fagsystem import Fagsystems, VendorBehaviour
from probe.sandbox.faults import FaultName, FaultRegistry
from probe.sandbox.schemas import ApiVersion


class Tilstand(enum.StrEnum):
    """KS's report states."""

    AKSEPTERT = "AKSEPTERT"
    SENDT_FAGSYSTEM = "SENDT_FAGSYSTEM"
    AVVIST_FAGSYSTEM = "AVVIST_FAGSYSTEM"
    SENDT_PRINT = "SENDT_PRINT"
    AVVIST_PRINT = "AVVIST_PRINT"
    LEVERT = "LEVERT"


DESCRIPTIONS = {
    Tilstand.AKSEPTERT: "Bekymringsmeldingen er mottatt og akseptert av Fiks",
    Tilstand.SENDT_FAGSYSTEM: "Bekymringsmeldingen er sendt til fagsystem via Fiks IO",
    Tilstand.LEVERT: "Fagsystemet har kvittert for mottak av bekymringsmeldingen",
    Tilstand.AVVIST_FAGSYSTEM: "Fagsystemet avviste bekymringsmeldingen",
    Tilstand.SENDT_PRINT: "Bekymringsmeldingen er sendt til print og sendes som brevpost",
}
# ``LEVERT`` after paper post says where it went.
POSTED_DESCRIPTION = "Bekymringsmeldingen er levert posten for levering som brevpost til barnevernstjenesten"


class Step(enum.Enum):
    """What a report waits for next."""

    FORWARD = "forward"
    HANDOVER = "handover"
    RECEIPT = "receipt"
    REJECTION = "rejection"
    PRINT = "print"
    POST = "post"
    NONE = "none"


@dataclasses.dataclass(slots=True)
class StatusEntry:
    """One entry of a report's status history."""

    at: float
    tilstand: Tilstand
    beskrivelse: str


@dataclasses.dataclass(slots=True)
class Report:
    """One accepted report and its drawn timeline."""

    id: str
    fiks_org_id: str
    kommunenummer: str
    bydelsnummer: str
    version: ApiVersion
    # The newest report version the office's fagsystem accepts (its ``stottetVersjon``).
    stottet_versjon: int
    vendor_id: str
    accepted_at: float
    # The encrypted ASiC-E until the fagsystem has read it; dropped afterwards.
    asice: bytes | None
    forward_delay: float
    handover_delay: float
    receipt_delay: float
    print_delay: float
    history: list[StatusEntry] = dataclasses.field(default_factory=list)
    step: Step = Step.FORWARD
    due: float = 0.0
    feilmelding: str = ""

    @property
    def done(self) -> bool:
        """Whether nothing more will ever happen to the report."""
        return self.step is Step.NONE


class KsService:
    """The reports KS has accepted."""

    def __init__(
        self, clock: Clock, faults: FaultRegistry, delays: Delays, fagsystems: Fagsystems, rng: random.Random
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._delays = delays
        self._fagsystems = fagsystems
        self._rng = rng
        self._reports: dict[str, Report] = {}
        self._open: dict[str, dict[str, Report]] = {}

    def accept(
        self,
        fiks_org_id: str,
        *,
        kommunenummer: str,
        bydelsnummer: str,
        version: ApiVersion,
        stottet_versjon: int,
        vendor_id: str,
        encrypted_asice: bytes,
    ) -> Report:
        """Accept a report (its print part already checked) for an office whose fagsystem accepts
        versions up to ``stottet_versjon``, and draw its timeline."""
        now = self._clock.now()
        forward = self._delays.draw("ks_forward", at=now)
        report = Report(
            id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            fiks_org_id=fiks_org_id,
            kommunenummer=kommunenummer,
            bydelsnummer=bydelsnummer,
            version=version,
            stottet_versjon=stottet_versjon,
            vendor_id=vendor_id,
            accepted_at=now,
            asice=encrypted_asice,
            forward_delay=forward,
            handover_delay=self._delays.draw("fiks_handover", vendor=vendor_id, at=now),
            receipt_delay=self._delays.draw("fagsystem_receipt", vendor=vendor_id, at=now),
            print_delay=self._delays.draw("ks_print", at=now),
            due=now + forward,
        )
        self._record(report, now, Tilstand.AKSEPTERT)
        self._reports[report.id] = report
        self._open.setdefault(kommunenummer, {})[report.id] = report
        return report

    def get(self, report_id: str) -> Report | None:
        """The report ``report_id`` advanced to now, or ``None``."""
        report = self._reports.get(report_id)
        if report is not None:
            self.advance(report)
        return report

    def peek(self, report_id: str) -> Report | None:
        """The report ``report_id`` as it stands (not advanced), or ``None``."""
        return self._reports.get(report_id)

    def advance_municipality(self, kommunenummer: str) -> None:
        """Advance every unfinished report of the municipality to now."""
        for report in list(self._open.get(kommunenummer, {}).values()):
            self.advance(report)

    def prune(self, before: float) -> int:
        """Forget finished reports whose last status is older than ``before``; returns how many."""
        stale = [r.id for r in self._reports.values() if r.done and r.history and r.history[-1].at < before]
        for report_id in stale:
            del self._reports[report_id]
        return len(stale)

    def __len__(self) -> int:
        return len(self._reports)

    def advance(self, report: Report) -> None:
        """Work out every step of ``report`` due by now."""
        now = self._clock.now()
        while not report.done and report.due <= now:
            if not self._step(report, now):
                break
        if report.done:
            self._open.get(report.kommunenummer, {}).pop(report.id, None)

    def _step(self, report: Report, now: float) -> bool:
        """Take the report's next step (due by ``now``); ``False`` if it is blocked for now."""
        if report.step is Step.FORWARD:
            waited = self._held(report, FaultName.PORTAL_STALL)  # KS's own queue stalls
            if waited is not None:
                return waited
            self._record(report, report.due, Tilstand.SENDT_FAGSYSTEM)
            report.step, report.due = Step.HANDOVER, report.due + report.handover_delay
        elif report.step is Step.HANDOVER:
            # Fiks IO holds the message while the fagsystem is down and delivers it once it is back.
            waited = self._held(report, FaultName.VENDOR_DOWN)
            if waited is not None:
                return waited
            self._hand_over(report)
        elif report.step is Step.RECEIPT:
            self._record(report, report.due, Tilstand.LEVERT)
            report.step = Step.NONE
        elif report.step is Step.REJECTION:
            self._record(report, report.due, Tilstand.AVVIST_FAGSYSTEM, report.feilmelding)
            report.step, report.due = Step.PRINT, report.due + report.print_delay
        elif report.step is Step.PRINT:
            self._record(report, report.due, Tilstand.SENDT_PRINT)
            report.step, report.due = Step.POST, report.due + report.print_delay
        elif report.step is Step.POST:
            report.history.append(StatusEntry(report.due, Tilstand.LEVERT, POSTED_DESCRIPTION))
            report.step = Step.NONE
        return True

    def _held(self, report: Report, fault: FaultName) -> bool | None:
        """Whether ``fault`` holds the step due at ``report.due``: ``False`` while an activation that has
        not been cleared holds it (look again next time), ``True`` once the step has been moved to the
        instant the fault let go, ``None`` if the fault does not hold it."""
        free = self._faults.free_from(fault, report.kommunenummer, report.due)
        if free is None:
            return False
        if free > report.due:
            report.due = free
            return True
        return None

    def _hand_over(self, report: Report) -> None:
        """Fiks IO delivers the report to the fagsystem at ``report.due`` (or loses it)."""
        kommunenummer, arrived = report.kommunenummer, report.due
        if self._faults.active_at(FaultName.PORTAL_HANDOVER_LOST, kommunenummer, arrived):
            report.step, report.asice = Step.NONE, None  # lost in Fiks IO: never delivered
            return
        receipt = self._fagsystems.receive_report(
            report.vendor_id,
            kommunenummer=kommunenummer,
            bydelsnummer=report.bydelsnummer,
            version=report.version,
            stottet_versjon=report.stottet_versjon,
            encrypted_asice=report.asice or b"",
            report_id=report.id,
            arrived_at=arrived,
            behaviour=VendorBehaviour.at(self._faults, kommunenummer, arrived),
        )
        report.asice = None
        report.due = receipt.sent_at + report.receipt_delay
        if receipt.ok:
            report.step = Step.RECEIPT
        else:
            report.step, report.feilmelding = Step.REJECTION, receipt.message

    @staticmethod
    def _record(report: Report, at: float, tilstand: Tilstand, detail: str = "") -> None:
        description = DESCRIPTIONS.get(tilstand, tilstand.value)
        if detail:
            description = f"{description}: {detail}"
        report.history.append(StatusEntry(at, tilstand, description))
