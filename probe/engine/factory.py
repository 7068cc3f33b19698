"""Making canaries: a fresh id, the signed marker and the synthetic subject of the report."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from probe.canary.content import CanarySubject
from probe.canary.identity import synthetic_fnr
from probe.canary.marker import MarkerSigner
from probe.config.routes import Route
from probe.hops import Hop
from probe.lifecycle.record import CanaryRecord

# The fictional child is between 2 and 15 years old: any age works, a plausible one keeps receiving
# systems' own validation (age checks) from rejecting the canary for the wrong reason.
MIN_AGE_DAYS = 2 * 365
MAX_AGE_DAYS = 15 * 365


class CanaryFactory:
    """Builds a canary per route: ledger record and report subject."""

    def __init__(self, signer: MarkerSigner, rng: random.Random | None = None) -> None:
        self._signer = signer
        self._random = rng or random.Random()

    def create(
        self, route: Route, now: float, due: dict[Hop, float] | None = None
    ) -> tuple[CanaryRecord, CanarySubject]:
        """A new canary on ``route`` created at ``now`` (the instant its deadlines count from), due at
        each hop by ``due`` (the route's bounds; without them the configured deadline)."""
        canary_id = str(uuid.uuid4())
        marker = self._signer.sign(canary_id, route.channel, route.kommunenummer, int(now))
        record = CanaryRecord.for_route(route, canary_id, marker, now, due)
        return record, self.subject(record, route)

    def subject(self, record: CanaryRecord, route: Route) -> CanarySubject:
        """The report subject of ``record`` (the portal adapter fills in the bydel it addresses)."""
        today = dt.datetime.fromtimestamp(record.created_at, tz=dt.UTC).date()
        birth = today - dt.timedelta(days=self._random.randint(MIN_AGE_DAYS, MAX_AGE_DAYS))
        return CanarySubject(
            canary_id=record.id,
            channel=record.channel,
            kommunenummer=route.kommunenummer,
            kommunenavn=route.municipality_name,
            bydelsnummer=route.bydel or "00",
            bydelsnavn=route.municipality_name,
            marker=record.marker,
            created_at=record.created_at,
            child_fnr=synthetic_fnr(self._random, birth),
        )
