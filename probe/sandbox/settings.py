"""The sandbox's settings: where it listens, how fast its world runs, and the shape of every delay.

Settings come from an optional YAML file (``config/sandbox/sandbox.yaml``) overlaid with command-line
arguments (:func:`load_settings`). Relative paths are relative to the working directory, the repository
root for ``kanari sandbox`` and ``kanari demo``. Nothing here is secret: the sandbox generates its keys and
passwords into :attr:`SandboxSettings.state_dir` at start (see :mod:`probe.sandbox.credentials`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probe.config.listen import parse_listen
from probe.errors import ConfigError, ListenError

SCHEMA_DIR_ENV = "KANARI_SANDBOX_KS_SCHEMA_DIR"
# An Altinn resource id as the resource registry stores it: no ``urn:altinn:resource:`` prefix, no colon,
# 1-255 characters (Altinn's ResourceIdentifierAttribute, prefix stripped).
RESOURCE_ID_PATTERN = r"^[^:]{1,255}$"
REPOSITORY = Path(__file__).resolve().parents[2]


def default_ks_schema_dir() -> Path:
    """Where KS's bekymringsmelding schemas are read from: ``$KANARI_SANDBOX_KS_SCHEMA_DIR``, else
    ``<repo>/../shared/reference/ks-bekymringsmelding``. They stay outside the project (no licence)."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    if override:
        return Path(override)
    return REPOSITORY.parent / "shared" / "reference" / "ks-bekymringsmelding"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HopDelay(_Strict):
    """One hop's delay at speed 1: log-normal around ``median`` seconds with shape ``sigma``; a share
    ``tail_share`` of the draws is stretched by a Pareto factor of index ``tail_alpha`` (the heavier tail
    of queues: a retry, a garbage collection, a batch that waited); every draw is capped at
    ``cap_factor`` x median so the slow tail is bounded and a deadline can exceed it
    (:func:`probe.sandbox.behaviour.latency.draw`)."""

    median: float = Field(gt=0)
    sigma: float = Field(ge=0, le=2)
    cap_factor: float = Field(default=10.0, ge=1)
    tail_share: float = Field(default=0.0, ge=0, le=0.5)
    tail_alpha: float = Field(default=1.5, gt=0)

    @property
    def worst(self) -> float:
        """The longest draw this hop can produce at speed 1."""
        return self.median * self.cap_factor


class SlowDaySettings(_Strict):
    """Slow days: on a day drawn with probability ``share`` (seeded, per target and date, so the same
    seed gives the same calendar), one party's machines (``ks``, ``digdir`` or one vendor) are ``factor_min``
    to ``factor_max`` times slower all day (a degraded database, a queue backlog after a release)."""

    share: float = Field(default=0.02, ge=0, le=1)
    factor_min: float = Field(default=2.0, ge=1)
    factor_max: float = Field(default=4.0, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> SlowDaySettings:
        if self.factor_max < self.factor_min:
            raise ValueError(f"factor_max ({self.factor_max}) is below factor_min ({self.factor_min})")
        return self


class PeopleSettings(_Strict):
    """The people at each municipality who open the Altinn inbox and read what came.

    With ``office_hours`` they work only in office hours (08:00-15:30 Europe/Oslo, Monday to Friday,
    never on Norwegian public holidays: :class:`probe.office_time.OfficeHours`), look at the inbox at
    the times of day in ``looks`` each moved by up to ``jitter`` seconds (per municipality and date,
    seeded), and read a message after ``municipality_read`` seconds of *office* time. Municipalities whose
    fagsystem imports Altinn mail fetch by machine, on their inbox poll schedule, day and night.
    ``None`` (the default): on at speed 1, off at higher speeds, where the probe's deadlines are wall
    time at that speed while the calendar would be compressed (see
    :class:`probe.sandbox.behaviour.people.WorldCalendar`); off: everyone polls on the inbox schedule
    around the clock (the sandbox before office hours).
    """

    office_hours: bool | None = None
    looks: tuple[str, ...] = ("08:20", "10:30", "12:45", "14:50")
    jitter: float = Field(default=1200, ge=0)

    @field_validator("looks")
    @classmethod
    def _times(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("people must look at the inbox at least once a day")
        for entry in value:
            hours, _, minutes = entry.partition(":")
            if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
                raise ValueError(f"look time {entry!r} is not HH:MM")
        return tuple(sorted(value))

    def enabled(self, speed: float) -> bool:
        """Whether people keep office hours at ``speed``."""
        return self.office_hours if self.office_hours is not None else speed == 1


class DelaySettings(_Strict):
    """Every delay of the simulated world at speed 1 (seconds); all are divided by the speed factor.

    API hops take seconds; people and municipality systems take minutes. The defaults follow what the
    services publish or what integrators report: KS forwards within seconds, a fagsystem's Fiks IO
    consumer polls every few seconds, Altinn publishes within seconds, and municipalities poll their
    Altinn inbox every 5-30 minutes.
    """

    # AKSEPTERT → SENDT_FAGSYSTEM: KS's own queue.
    ks_forward: HopDelay = HopDelay(median=5, sigma=0.5, tail_share=0.01)
    # SENDT_FAGSYSTEM → the fagsystem has read, checked and stored the report (Fiks IO consumer poll).
    fiks_handover: HopDelay = HopDelay(median=8, sigma=0.6, tail_share=0.01)
    # Stored → the ``mottatt``/``feilet`` receipt reaches KS and the status changes.
    fagsystem_receipt: HopDelay = HopDelay(median=2, sigma=0.5, tail_share=0.01)
    # AVVIST_FAGSYSTEM → SENDT_PRINT: KS falls back to paper post.
    ks_print: HopDelay = HopDelay(median=30, sigma=0.5)
    # Send → Published, in two parts whose sum is the publish delay. Altinn records ``Initialized`` and
    # ``ReadyForPublish`` at the send itself (a correspondence without attachments is ready at once) and
    # publishes from a background job: ``altinn_ready`` is that job's pick-up, ``altinn_publish`` its work.
    altinn_ready: HopDelay = HopDelay(median=1, sigma=0.5)
    altinn_publish: HopDelay = HopDelay(median=4, sigma=0.6, tail_share=0.01)
    # Fetched → Read: a person opens the message (minutes).
    municipality_read: HopDelay = HopDelay(median=180, sigma=0.8)
    # Fetched → registered in the fagsystem, for municipalities importing Altinn mail.
    altinn_import: HopDelay = HopDelay(median=30, sigma=0.6, tail_share=0.01)
    # Every municipality polls its Altinn inbox with its own period in this range (deterministic per
    # kommunenummer, see :func:`probe.sandbox.delays.inbox_schedule`).
    inbox_poll_min: float = Field(default=300, gt=0)
    inbox_poll_max: float = Field(default=1800, gt=0)
    # ``vendor.slow`` delays a fagsystem's processing by this much: far past every normal worst case.
    vendor_slow: float = Field(default=3600, gt=0)
    # ``vendor.duplicate`` registers the second copy this long after the first.
    duplicate_gap: float = Field(default=2, gt=0)
    # Days on which one party's machine hops are several times slower.
    slow_days: SlowDaySettings = SlowDaySettings()
    # Who opens and reads the Altinn inbox, and when.
    people: PeopleSettings = PeopleSettings()


class SandboxSettings(_Strict):
    """Everything the sandbox can be told; every field has a working default."""

    # HOST:PORT to listen on; port 0 picks a free port (reported on stdout and in ``sandbox.json``).
    listen: str = "127.0.0.1:8700"
    # The URL clients use, when it differs from the listen address (a container port mapping).
    public_base_url: str | None = None
    # Every delay is divided by this: 60 turns a 30-minute inbox poll into 30 seconds.
    speed: float = Field(default=1.0, gt=0, le=100_000)
    # Seed of the delay draws: the same seed and the same requests give the same timeline.
    seed: int = 1
    state_dir: Path = Path("var/sandbox")
    tls: bool = False
    ks_schema_dir: Path = Field(default_factory=default_ks_schema_dir)
    # The integration Kanari uses at KS (both fictional in the sandbox).
    fiks_org_id: str = Field(default="5e0b4a35-1f5c-4b7a-9a57-6b616e617269", pattern=r"^[0-9a-f-]{36}$")
    integrasjon_id: str = Field(default="0c6f1f3e-8d4a-4f43-a2f2-6b616e617269", pattern=r"^[0-9a-f-]{36}$")
    # The Altinn resources the canary correspondences are sent on, both owned by Kanari's organisation.
    # Like Altinn's resource registry, the sandbox knows which resource is for confidential mail (its
    # policy names the access package ``post-til-virksomheten-med-taushetsbelagt-innhold``): on it a
    # correspondence must say ``isConfidential: true`` (else error 1060); on the ordinary one it must not
    # (else 1061). Kanari sends confidential canaries by default (DESIGN 3.3).
    altinn_resource_id: str = Field(default="kanari-bekymringsmelding-test", pattern=RESOURCE_ID_PATTERN)
    altinn_ordinary_resource_id: str = Field(
        default="kanari-bekymringsmelding-ordinaer-test", pattern=RESOURCE_ID_PATTERN
    )
    # Maskinporten's default access-token lifetime; Altinn tokens live 30 minutes.
    maskinporten_token_lifetime: int = Field(default=120, ge=10)
    altinn_token_lifetime: int = Field(default=1800, ge=10)
    # ``ratelimit`` answers ask for this many seconds (divided by speed, at least 1).
    retry_after: float = Field(default=30, gt=0)
    # KS refuses larger payloads with 413.
    max_payload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    access_log: bool = False
    # Finished reports and correspondences, and read-back registrations, are forgotten this long after
    # their last step, so a demo running for days keeps a bounded memory. It must exceed Kanari's
    # late-arrival window (one day by default) for late arrivals to stay visible.
    retention: float = Field(default=2 * 86400, gt=0)
    delays: DelaySettings = DelaySettings()

    @model_validator(mode="after")
    def _two_resources(self) -> SandboxSettings:
        if self.altinn_resource_id == self.altinn_ordinary_resource_id:
            raise ValueError(
                "altinn_resource_id (confidential mail) and altinn_ordinary_resource_id must differ: "
                "one Altinn resource is either for confidential mail or not"
            )
        return self

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            parse_listen(value)
        except ListenError as error:
            raise ValueError(f"{error} (port 0 picks a free port)") from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8700")
        return value.rstrip("/")

    @property
    def host(self) -> str:
        """The listen host."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The listen port (0: pick a free one)."""
        return int(self.listen.rpartition(":")[2])


def load_settings(config_file: Path | None = None, **overrides: Any) -> SandboxSettings:
    """Settings from ``config_file`` (YAML, optional) with ``overrides`` on top; ``None`` overrides are
    ignored, so CLI options that were not given keep the file's value.

    Raises :class:`~probe.errors.ConfigError` naming the file and field on any invalid value.
    """
    data: dict[str, Any] = {}
    source = str(config_file) if config_file is not None else "<arguments>"
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(
                source, "sandbox", str(config_file), f"cannot read: {error.strerror}"
            ) from error
        except yaml.YAMLError as error:
            raise ConfigError(source, "sandbox", str(config_file), f"not valid YAML: {error}") from error
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(source, "sandbox", type(loaded).__name__, "must be a mapping of settings")
        data.update(loaded or {})
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return SandboxSettings.model_validate(data)
    except ValueError as error:
        raise ConfigError(source, "sandbox", "", str(error)) from error
