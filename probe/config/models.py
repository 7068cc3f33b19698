"""``kanari.yaml``: the probe-wide settings (the other files: :mod:`probe.config.vendors`,
:mod:`probe.config.municipalities`; shared field types: :mod:`probe.config.fields`).

``kanari.yaml`` is a pydantic-settings model: every field can be overridden from the environment with
the ``KANARI_`` prefix and ``__`` for nesting (``KANARI_CHANNELS__PORTAL__INTERVAL=60``). Secrets are
never values in a file: they are :class:`~probe.config.types.SecretRef` (a file or an environment
variable).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from psycopg.conninfo import conninfo_to_dict
from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from probe.config.durations import (
    KS_RETENTION_DEFAULT,
    AssertionLifetime,
    BlindGrace,
    DeliveryTime,
    DirectoryCache,
    KsRetention,
    LateWindow,
    LeaseTime,
    MarkerAge,
    PollInterval,
    RefreshMargin,
    Retention,
    SendInterval,
    Timeout,
)
from probe.config.environment import ENV_NESTED_DELIMITER, ENV_PREFIX, environment_source
from probe.config.fields import (
    ApiVersionChoice,
    Audience,
    ListenAddress,
    Receiver,
    Strict,
    TimeZoneName,
    UpstreamUrl,
)
from probe.config.office import LearningSettings, OfficeHoursSettings
from probe.config.types import SecretSource
from probe.hops import Channel, Hop


class PreviousKey(Strict):
    """A retired signing key whose public half is still published so earlier markers verify."""

    key_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    public_key_file: Path


# The marker travels as an Altinn ``propertyList`` value, which Altinn caps at 300 characters. The marker
# is 95 characters plus the base64url of a 97-character payload and the key id, so a key id of up to 56
# characters fits; 48 keeps a margin (a 48-character key id gives a 289-character marker).
MAX_KEY_ID_LENGTH = 48


class SigningSettings(Strict):
    """The Ed25519 key that signs canary markers, and earlier public keys still published for rotation."""

    key_file: Path
    key_id: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    previous_public_keys: list[PreviousKey] = []
    # A read-back answer carrying a marker older than this is not accepted as one of ours: replaying an
    # old marker onto a real report must not make it look like a canary.
    max_age: MarkerAge = 7 * 86400

    @field_validator("key_id")
    @classmethod
    def _marker_fits_altinn(cls, value: str) -> str:
        if len(value) > MAX_KEY_ID_LENGTH:
            raise ValueError(
                f"a key id of {len(value)} characters would make the marker longer than the 300 characters "
                f"Altinn allows in a propertyList value; use at most {MAX_KEY_ID_LENGTH} characters"
            )
        return value


class BusinessCertificateSettings(Strict):
    """The operator's business certificate (virksomhetssertifikat): the chain, leaf first, and its RSA key.

    KS's producer client signs the ASiC-E container with it (a detached CAdES signature over the
    manifest, certificate embedded), and receiving systems refuse an unsigned container. It is the same
    certificate Maskinporten accepts in an ``x5c`` header, so ``maskinporten.certificate_chain_file`` and
    ``maskinporten.key_file`` may name the same files."""

    certificate_chain_file: Path
    key_file: Path


class MaskinportenSettings(Strict):
    """The Maskinporten client (DESIGN 3.1): a registered key (``key_id``) or a business certificate
    chain (``certificate_chain_file``, sent as ``x5c``)."""

    token_url: UpstreamUrl
    audience: Audience
    client_id: str = Field(min_length=1)
    key_file: Path
    key_id: str | None = None
    certificate_chain_file: Path | None = None
    # Maskinporten accepts assertions living at most 120 s; a shorter life narrows replay.
    assertion_lifetime: AssertionLifetime = 60
    # Renew a cached token this long before it expires, so no request carries a token that dies in flight.
    refresh_margin: RefreshMargin = 30

    @model_validator(mode="after")
    def _one_key_kind(self) -> MaskinportenSettings:
        if (self.key_id is None) == (self.certificate_chain_file is None):
            raise ValueError("give exactly one of key_id (registered key) or certificate_chain_file (x5c)")
        return self


class ChannelSettings(Strict):
    """Settings shared by both channels. Per-municipality files may override the timing fields."""

    enabled: bool = True
    base_url: UpstreamUrl
    interval: SendInterval = 300
    deadline: DeliveryTime = 900
    poll_interval: PollInterval = 15
    # The slowest latency a healthy route shows (its normal worst case); ``config check`` refuses a
    # deadline that does not leave room for it plus one poll.
    normal_latency: DeliveryTime = 120
    final_hop: Hop | None = None
    concurrency: int = Field(default=16, ge=1, le=1024)
    timeout: Timeout = 10
    # Each route learns its deadline per hop from its own delivered canaries (the deadline above is the
    # cold start and the upper limit); ``null``: the deadline above for every hop.
    learning: LearningSettings | None = LearningSettings()


class PortalSettings(ChannelSettings):
    """The KS Fiks bekymringsmelding producer API (DESIGN 3.2)."""

    api_version: ApiVersionChoice = "auto"
    # KS writes report and status times as local date-times without zone (Java LocalDateTime).
    time_zone: TimeZoneName = "Europe/Oslo"
    fiks_org_id: str = Field(pattern=r"^[0-9a-fA-F-]{36}$")
    integrasjon_id: str = Field(min_length=1)
    integrasjon_passord: SecretSource
    scope: str = "ks:fiks"
    # KS refuses payloads over 5 MB; a canary is a few kB, so this only guards against a bug.
    max_payload_bytes: int = 5 * 1024 * 1024
    # Bydel lists and encryption keys change rarely; refetching them for every canary would double
    # the calls per canary for nothing.
    directory_cache: DirectoryCache = 3600


class AltinnSettings(ChannelSettings):
    """Altinn 3 Correspondence (DESIGN 3.3)."""

    resource_id: str = Field(min_length=1)
    scopes: list[str] = ["altinn:serviceowner", "altinn:correspondence.write"]
    deadline: DeliveryTime = 3600
    final_hop: Hop | None = Hop.FETCHED
    # The police reports that went unopened for two years were confidential mail, visible only to holders
    # of a role nobody had: the canary travels the same way unless a route says otherwise.
    confidential: bool = True
    # Altinn refuses ordinary mail on a resource for confidential mail (error 1060) and confidential mail
    # on one that is not (1061): routes with ``confidential: false`` are sent on this resource instead.
    ordinary_resource_id: str | None = Field(default=None, min_length=1)


class ChannelsSettings(Strict):
    """Both channels; a channel left out (or ``enabled: false``) sends nothing."""

    portal: PortalSettings | None = None
    altinn: AltinnSettings | None = None

    def get(self, channel: Channel) -> ChannelSettings | None:
        """The settings of ``channel`` if configured and enabled."""
        settings: ChannelSettings | None = getattr(self, channel.value)
        return settings if settings is not None and settings.enabled else None


class ReadbackSettings(Strict):
    """How the vendors' read-back APIs are polled."""

    poll_interval: PollInterval = 15
    concurrency: int = Field(default=8, ge=1, le=1024)
    timeout: Timeout = 10
    cleanup: bool = True


class HttpSettings(Strict):
    """Outgoing HTTP. TLS verification is always on; ``ca_bundle`` adds a CA file (e.g. a test CA)."""

    ca_bundle: Path | None = None
    # Upstream answers are small JSON documents; anything bigger is refused as an invalid response
    # rather than read into memory.
    max_response_bytes: int = Field(default=1024 * 1024, ge=1024)


class MetricsSettings(Strict):
    """Protection of ``/metrics``: basic auth when both fields are set."""

    basic_auth_username: str | None = None
    basic_auth_password: SecretSource | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> MetricsSettings:
        if (self.basic_auth_username is None) != (self.basic_auth_password is None):
            raise ValueError("give both basic_auth_username and basic_auth_password, or neither")
        return self


class SmtpSettings(Strict):
    """The relay Alertmanager sends e-mail alerts through."""

    smarthost: str = Field(pattern=r"^[^\s:]+:\d{1,5}$")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# A Prometheus job name as an operator writes it in a scrape config (letters, digits, ``_ . : -``); it
# goes into every rule, inhibition and dashboard as a quoted label value, so nothing may need escaping.
_JOB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,99}")


def _job_name(value: str) -> str:
    if not _JOB_NAME.fullmatch(value):
        raise ValueError(
            "must be the job_name of a Prometheus scrape config: a letter or _, then letters, digits "
            "and _ . : - (e.g. kanari)"
        )
    return value


JobName = Annotated[str, AfterValidator(_job_name)]


class AlertingSettings(Strict):
    """Receivers that are not vendors or municipalities, the scrape jobs the rules read, and the links
    put on every alert.

    ``ks`` and ``digdir`` are paged (critical alerts); ``ks_ticket`` and ``digdir_ticket`` get the
    warnings (tickets). Without a ticket receiver an owner's warnings reach the operations centre only."""

    operations_centre: Receiver | None = None
    ks: Receiver | None = None
    ks_ticket: Receiver | None = None
    digdir: Receiver | None = None
    digdir_ticket: Receiver | None = None
    heartbeat: Receiver | None = None
    # The Prometheus job that scrapes Kanari (every replica): every rule, recording rule and dashboard
    # selects it, and KanariProbeDown fires when it is absent. A shared Prometheus may already have a
    # ``kanari`` job of another deployment, so each deployment names its own.
    job: JobName = "kanari"
    # The job that scrapes the Alertmanager Kanari's alerts go through (KanariAlertmanagerFailing reads
    # its notification counters; kube-prometheus calls it alertmanager-main).
    alertmanager_job: JobName = "alertmanager"
    runbook_url: str = "https://github.com/kanari-probe/kanari/blob/main/docs/runbooks.md"
    dashboard_url: str = "http://localhost:3000/d"
    # A channel is down when at least this share of its routes fail at once.
    channel_down_share: float = Field(default=0.5, gt=0, le=1)
    # Share of judged canaries each channel must deliver by their deadline (over 30 days): the SLO the
    # burn-rate alerts guard. 99 %: one municipality wholly down is 0.3 % of a channel, so the budget is
    # spent by national degradation, not by one broken route (route alerts page for that).
    slo_target: dict[Channel, float] = {Channel.PORTAL: 0.99, Channel.ALTINN: 0.99}
    # Where e-mail alerts go out; without it the rendered configuration names a relay that cannot
    # resolve, so nothing leaks before a deployment sets its own.
    smtp: SmtpSettings | None = None

    @field_validator("slo_target")
    @classmethod
    def _targets_are_shares(cls, value: dict[Channel, float]) -> dict[Channel, float]:
        for channel, target in value.items():
            if not 0 < target < 1:
                raise ValueError(f"slo_target of {channel.value} must be between 0 and 1 (e.g. 0.99)")
        return value


def unused_environment_variables(environ: Mapping[str, str], secret_names: set[str]) -> list[str]:
    """``KANARI_`` variables that neither name a setting nor hold a configured secret: most likely a
    typo (``KANARI_INTERVAL`` for ``KANARI_CHANNELS__PORTAL__INTERVAL``), silently ignored otherwise."""
    fields = set(ProbeSettings.model_fields)
    unused = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name in secret_names:
            continue
        head = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)[0]
        if head not in fields:
            unused.append(name)
    return unused


class PostgresLedgerSettings(Strict):
    """The PostgreSQL ledger, for two or more replicas of which one leads (:mod:`probe.ledger.postgres`,
    :mod:`probe.leadership.lease`). ``dsn`` is a libpq connection string or URI without the password
    (``host=db.example port=5432 dbname=kanari user=kanari sslmode=verify-full``); the password comes
    from ``password`` (a file or an environment variable) or libpq's own ``PGPASSFILE``."""

    dsn: str = Field(min_length=1)
    password: SecretSource | None = None
    # How long a leader's lease lasts without renewal: it renews every third of it, a standby takes over
    # a leader that died within the lease plus a third.
    lease: LeaseTime = 15.0

    @field_validator("dsn")
    @classmethod
    def _no_password_in_dsn(cls, value: str) -> str:
        try:
            parts = conninfo_to_dict(value)
        except Exception:
            # The text may hold a password: never echo it.
            raise ValueError("is not a libpq connection string or URI (value not shown)") from None
        if "password" in parts:
            raise ValueError(
                "holds a password (value not shown): put it in ledger_postgres.password (file: or env:) "
                "instead, so it is never in kanari.yaml or a log"
            )
        return value


class ProbeSettings(BaseSettings):
    """``kanari.yaml``: the probe-wide settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
    )

    instance: str = Field(default="kanari", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    listen: ListenAddress = "127.0.0.1:9464"
    ledger: Path = Path("var/kanari.sqlite3")
    # Set, the ledger is in PostgreSQL instead of the SQLite file ``ledger`` (which is then unused).
    ledger_postgres: PostgresLedgerSettings | None = None
    registry: Path | None = None
    vendors_file: Path = Path("vendors.yaml")
    municipalities_dir: Path = Path("municipalities")
    signing: SigningSettings
    maskinporten: MaskinportenSettings
    business_certificate: BusinessCertificateSettings | None = None
    channels: ChannelsSettings
    readback: ReadbackSettings = ReadbackSettings()
    http: HttpSettings = HttpSettings()
    metrics: MetricsSettings = MetricsSettings()
    alerting: AlertingSettings = AlertingSettings()
    # After a verdict of lost or unknown, keep looking this long for the canary to turn up late.
    late_window: LateWindow = 86400
    # Past the deadline, a probe that still cannot look this long says ``unknown`` instead of waiting.
    blind_grace: BlindGrace = 120
    # Resolved canaries older than this are folded into per-route totals and removed from the ledger.
    retention: Retention = 30 * 86400
    # How long KS keeps a report: reports sent in an incident's exposure window can be recovered from KS
    # until its start plus this (DESIGN section 7).
    ks_retention: KsRetention = KS_RETENTION_DEFAULT
    # When people at the municipalities work: the deadlines of the hops that need a person (Altinn
    # fetched and read, a route's manual_hops) count in these hours only. A municipality file may give
    # its own (and its closures). ``null``: every hop on wall-clock time (a sandbox whose people never
    # sleep).
    office_hours: OfficeHoursSettings | None = OfficeHoursSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init arguments; the environment must win over it.
        return environment_source(settings_cls), init_settings
