"""The simulated world: every municipality with its vendor and offices, the reports and correspondences
in flight, the vendors' stores, the faults, the keys, and the clock it all runs on.

The world is lazily evaluated (see :mod:`probe.sandbox.ks` and :mod:`probe.sandbox.correspondence`):
there are no background tasks, and every API call first advances what it looks at to ``clock.now()``.
Tests inject a :class:`~probe.clock.FakeClock` and move it instead of sleeping.

Building a world is cheap by design (well under a second for all 357 municipalities): keys are read from
the state dir (generated once), and per-office Fiks IO certificates are issued on first request.
"""

from __future__ import annotations

import collections
import logging
import random
from pathlib import Path

from probe.clock import Clock, SystemClock
from probe.config.registry import Registry, packaged_registry
from probe.office_time import OfficeHours
from probe.sandbox.assignment import VENDORS, VENDORS_BY_ID, Assignment, VendorSpec, assign_all
from probe.sandbox.behaviour.people import People, WorldCalendar
from probe.sandbox.certs import FiksPki
from probe.sandbox.correspondence import CorrespondenceService
from probe.sandbox.credentials import (
    KANARI_CLIENT_ID,
    KANARI_KEY_ID,
    KANARI_ORGNR,
    RECIPIENT_CLIENT_ID,
    RECIPIENT_KEY_ID,
    RECIPIENT_ORGNR,
    Credentials,
    load_or_create,
)
from probe.sandbox.delays import Delays
from probe.sandbox.fagsystem import Fagsystems
from probe.sandbox.faults import FaultGate, FaultRegistry
from probe.sandbox.ks import KsService
from probe.sandbox.schemas import KsSchemas
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.tokens import Client, TokenService

log = logging.getLogger("probe.sandbox")

# Kanari's client may ask for everything it needs on both channels, plus the read-back scope of every
# vendor that chose Maskinporten for its read-back API.
KANARI_SCOPES = (
    "ks:fiks",
    "altinn:serviceowner",
    "altinn:correspondence.write",
    "altinn:correspondence.read",
)
RECIPIENT_SCOPES = ("altinn:correspondence.read",)
# Pruning scans everything held, so it runs once per this many submissions (a few times an hour with all
# 714 routes on a five-minute interval), not on every request.
PRUNE_EVERY = 1000


class Urls:
    """Every URL of the sandbox, from its public base URL."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.maskinporten_issuer = f"{self.base}/maskinporten/"
        self.maskinporten_token = f"{self.base}/maskinporten/token"
        self.fiks = f"{self.base}/fiks/bekymringsmelding"
        self.altinn = f"{self.base}/altinn"
        self.altinn_issuer = f"{self.base}/altinn/authentication/"
        self.admin = f"{self.base}/admin/faults"
        self.deviations = f"{self.base}/admin/deviations"
        self.health = f"{self.base}/healthz"

    def readback(self, vendor_id: str) -> str:
        """A vendor's read-back base URL (the probe appends ``/kanari/v1/...``)."""
        return f"{self.base}/vendors/{vendor_id}"


class World:
    """The whole simulated world behind one sandbox server."""

    def __init__(
        self,
        settings: SandboxSettings,
        base_url: str,
        credentials: Credentials,
        clock: Clock | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.urls = Urls(base_url)
        self.credentials = credentials
        self.registry = registry or packaged_registry()
        self._submissions = 0
        self.assignments: dict[str, Assignment] = assign_all(self.registry)
        self._by_orgnr = {assignment.orgnr: assignment for assignment in self.assignments.values()}
        self.vendors: dict[str, VendorSpec] = dict(VENDORS_BY_ID)
        self.faults = FaultRegistry(self.clock, self.assignments.keys())
        self.gate = FaultGate(self.faults, settings.retry_after, settings.speed)
        # Timeline draws and ids come from separate seeded generators, so adding an id never shifts a
        # delay (and the other way round).
        people_on = settings.delays.people.enabled(settings.speed)
        self.people = People(settings.delays.people, OfficeHours(), settings.seed) if people_on else None
        # The world's calendar: the sandbox clock at speed 1, compressed with the world above it.
        self.calendar = WorldCalendar(
            OfficeHours(), self.clock.now(), settings.speed, compressed=people_on and settings.speed != 1
        )
        self.delays = Delays(
            settings.delays,
            settings.speed,
            random.Random(f"delays:{settings.seed}"),
            seed=settings.seed,
            calendar=self.calendar,
        )
        ids = random.Random(f"ids:{settings.seed}")
        self.pki = FiksPki(
            self.clock,
            credentials.ks_ca,
            credentials.print_key,
            credentials.vendor_keys,
            {vendor.id: vendor.name for vendor in VENDORS},
        )
        self.schemas = KsSchemas.load(settings.ks_schema_dir)
        # What KS and the fagsystems accepted although it deviates from KS's contract, by kind
        # (``cms_pkcs1v15``, ``print_cms_pkcs1v15``): readable by tests and at ``GET /admin/deviations``.
        self.deviations: collections.Counter[str] = collections.Counter()
        self.fagsystems = Fagsystems(
            self.pki,
            self.schemas,
            self.vendors,
            self.delays.scaled(settings.delays.vendor_slow),
            self.delays.scaled(settings.delays.duplicate_gap),
            deviations=self.deviations,
        )
        self.ks = KsService(self.clock, self.faults, self.delays, self.fagsystems, ids)
        self.altinn = CorrespondenceService(
            self.clock,
            self.faults,
            delays=self.delays,
            fagsystems=self.fagsystems,
            rng=ids,
            delay_settings=settings.delays,
            speed=settings.speed,
            people=self.people,
        )
        self.tokens = TokenService(
            self.clock,
            maskinporten_issuer=self.urls.maskinporten_issuer,
            altinn_issuer=self.urls.altinn_issuer,
            signing_key=credentials.token_key,
            clients=self._clients(),
            business_ca=credentials.business_ca.certificate,
            token_lifetime=settings.maskinporten_token_lifetime,
            altinn_token_lifetime=settings.altinn_token_lifetime,
        )

    def _clients(self) -> list[Client]:
        readback_scopes = [vendor.scope for vendor in VENDORS if vendor.scope is not None]
        return [
            Client(
                KANARI_CLIENT_ID,
                KANARI_ORGNR,
                frozenset(KANARI_SCOPES + tuple(readback_scopes)),
                {KANARI_KEY_ID: self.credentials.client_key.public_key()},
            ),
            # Every municipality has delegated to this system, so a test (or Kanari's optional
            # recipient check) can act as any municipality's inbox with ``consumer_org``.
            Client(
                RECIPIENT_CLIENT_ID,
                RECIPIENT_ORGNR,
                frozenset(RECIPIENT_SCOPES),
                {RECIPIENT_KEY_ID: self.credentials.recipient_key.public_key()},
                delegated_by=frozenset(self._by_orgnr),
            ),
        ]

    @classmethod
    def build(
        cls,
        settings: SandboxSettings,
        base_url: str,
        clock: Clock | None = None,
        registry: Registry | None = None,
        state_dir: Path | None = None,
    ) -> World:
        """A world with credentials read from (or generated into) ``state_dir`` (default: the
        settings' state dir). Writes no ``sandbox.json``; :func:`probe.sandbox.manifest.write_manifest`
        does."""
        static = [vendor.id for vendor in VENDORS if vendor.readback == "static"]
        credentials = load_or_create(
            state_dir or settings.state_dir, [vendor.id for vendor in VENDORS], static, settings.tls
        )
        return cls(settings, base_url, credentials, clock, registry)

    def submitted(self) -> None:
        """Count one accepted submission; every :data:`PRUNE_EVERY` of them, :meth:`prune`."""
        self._submissions += 1
        if self._submissions % PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Forget what finished longer than the retention ago (bounded memory for long demos)."""
        before = self.clock.now() - self.settings.retention
        self.ks.prune(before)
        self.altinn.prune(before)
        for store in self.fagsystems.stores.values():
            store.prune(before)

    def by_orgnr(self, orgnr: str | None) -> Assignment | None:
        """The municipality with organisation number ``orgnr``."""
        return self._by_orgnr.get(orgnr) if orgnr else None

    def advance_municipality(self, kommunenummer: str) -> None:
        """Advance everything in flight to the municipality to now (before showing its stores)."""
        self.ks.advance_municipality(kommunenummer)
        self.altinn.to_municipality(kommunenummer)
