"""The configuration models: ``kanari.yaml`` (probe-wide settings), ``vendors.yaml`` and one file per
municipality under ``municipalities/``.

``kanari.yaml`` is a pydantic-settings model: every field can be overridden from the environment with
the ``KANARI_`` prefix and ``__`` for nesting (``KANARI_CHANNELS__PORTAL__INTERVAL=60``). Secrets are
never values in a file: they are :class:`~probe.config.types.SecretRef` (a file or an environment
variable).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from probe.config.schema import holds_secret
from probe.config.types import Duration, SecretSource
from probe.hops import Channel, Hop

VENDOR_ID_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"
ENV_PREFIX = "KANARI_"
ENV_NESTED_DELIMITER = "__"


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError("must be an http(s) URL such as https://api.fiks.test.ks.no/bekymringsmelding")
    return value.rstrip("/")


def _listen_address(value: str) -> str:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9464")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
ListenAddress = Annotated[str, AfterValidator(_listen_address)]


class Strict(BaseModel):
    """Base of the configuration models: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid")


class Receiver(Strict):
    """Where an alert receiver is reached: an Alertmanager webhook and/or an e-mail address."""

    webhook_url: HttpUrl | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @model_validator(mode="after")
    def _reachable(self) -> Receiver:
        if self.webhook_url is None and self.email is None:
            raise ValueError("give a webhook_url, an email, or both")
        return self


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
    max_age: Duration = 7 * 86400

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

    token_url: HttpUrl
    audience: str
    client_id: str = Field(min_length=1)
    key_file: Path
    key_id: str | None = None
    certificate_chain_file: Path | None = None
    # Maskinporten accepts assertions living at most 120 s; a shorter life narrows replay.
    assertion_lifetime: Duration = 60
    # Renew a cached token this long before it expires, so no request carries a token that dies in flight.
    refresh_margin: Duration = 30

    @model_validator(mode="after")
    def _one_key_kind(self) -> MaskinportenSettings:
        if (self.key_id is None) == (self.certificate_chain_file is None):
            raise ValueError("give exactly one of key_id (registered key) or certificate_chain_file (x5c)")
        if self.assertion_lifetime > 120:
            raise ValueError("assertion_lifetime must be at most 120 s (Maskinporten's limit)")
        return self


class ChannelSettings(Strict):
    """Settings shared by both channels. Per-municipality files may override the timing fields."""

    enabled: bool = True
    base_url: HttpUrl
    interval: Duration = 300
    deadline: Duration = 900
    poll_interval: Duration = 15
    # The slowest latency a healthy route shows (its normal worst case); ``config check`` refuses a
    # deadline that does not leave room for it plus one poll.
    normal_latency: Duration = 120
    final_hop: Hop | None = None
    concurrency: int = Field(default=16, ge=1, le=1024)
    timeout: Duration = 10


ApiVersionChoice = Literal["auto", "v1", "v2"]
"""A portal route's report version: ``auto`` sends each office the newest version both Kanari and the
office (its ``stottetVersjon``) support; ``v1``/``v2`` pins one."""


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Oslo") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


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
    directory_cache: Duration = 3600


class AltinnSettings(ChannelSettings):
    """Altinn 3 Correspondence (DESIGN 3.3)."""

    resource_id: str = Field(min_length=1)
    scopes: list[str] = ["altinn:serviceowner", "altinn:correspondence.write"]
    deadline: Duration = 3600
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

    poll_interval: Duration = 15
    concurrency: int = Field(default=8, ge=1, le=1024)
    timeout: Duration = 10
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


class AlertingSettings(Strict):
    """Receivers that are not vendors or municipalities, and the links put on every alert."""

    operations_centre: Receiver | None = None
    ks: Receiver | None = None
    digdir: Receiver | None = None
    heartbeat: Receiver | None = None
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


_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("kanari_environment", default=None)


@contextmanager
def environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :class:`ProbeSettings` reads overrides from ``environ`` instead of the
    process environment (tests and ``config check`` pass their own)."""
    token = _ENVIRONMENT.set(environ)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source reading the mapping set by :func:`environment`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRONMENT.get()
        if environ is None:
            return super()._load_env_vars()
        return {(key if self.case_sensitive else key.lower()): value for key, value in environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        # A secret reference is a model, so pydantic-settings expects JSON; the documented short forms
        # ``file:PATH`` and ``env:NAME`` are not JSON. Hand such text to the model, which understands
        # them (and refuses, without echoing, a secret given as a value).
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            if isinstance(value, str) and field is not None and holds_secret(field.annotation):
                return value
            raise


def environment_variable_for(location: tuple[str | int, ...], environ: Mapping[str, str]) -> str | None:
    """The ``KANARI_`` variable that supplies ``location`` of ``kanari.yaml``, if one does, so an error
    there names the variable rather than a line of the file that it overrides."""
    best: tuple[int, str] | None = None
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER))
        wanted = tuple(str(part).lower() for part in location[: len(path)])
        if path == wanted and (best is None or len(path) > best[0]):
            best = (len(path), name)
    return best[1] if best else None


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
    late_window: Duration = 86400
    # Past the deadline, a probe that still cannot look this long says ``unknown`` instead of waiting.
    blind_grace: Duration = 120
    # Resolved canaries older than this are folded into per-route totals and removed from the ledger.
    retention: Duration = 30 * 86400

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
        return _EnvironmentSource(settings_cls), init_settings


class ReadbackAuth(Strict):
    """How Kanari authenticates to a vendor's read-back API: a static bearer key, or a Maskinporten
    token with a scope the vendor chose."""

    type: Literal["static", "maskinporten"]
    token: SecretSource | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> ReadbackAuth:
        if self.type == "static" and (self.token is None or self.scope is not None):
            raise ValueError("type static needs 'token' (a secret reference) and no 'scope'")
        if self.type == "maskinporten" and (self.scope is None or self.token is not None):
            raise ValueError("type maskinporten needs 'scope' and no 'token'")
        return self


class VendorReadback(Strict):
    """A vendor's read-back API (DESIGN 3.4)."""

    base_url: HttpUrl
    auth: ReadbackAuth


class Vendor(Strict):
    """A maker of a receiving system (fagsystem)."""

    id: str = Field(pattern=VENDOR_ID_PATTERN)
    name: str = Field(min_length=1)
    readback: VendorReadback | None = None
    alert_receiver: Receiver | None = None


class VendorsFile(Strict):
    """``vendors.yaml``."""

    vendors: list[Vendor]


def _organisasjonsnummer(value: str) -> str:
    """Enhetsregisteret's check digit: weights 3 2 7 6 5 4 3 2 over the first eight digits, modulo 11."""
    if len(value) != 9 or not value.isdigit():
        raise ValueError("must be nine digits")
    remainder = (
        sum(int(digit) * weight for digit, weight in zip(value[:8], (3, 2, 7, 6, 5, 4, 3, 2), strict=True))
        % 11
    )
    check = 0 if remainder == 0 else 11 - remainder
    if check == 10 or check != int(value[8]):
        raise ValueError("is not an organisation number (its check digit is wrong)")
    return value


Organisasjonsnummer = Annotated[str, AfterValidator(_organisasjonsnummer)]


class MunicipalityChannel(Strict):
    """Per-municipality overrides of one channel's settings."""

    enabled: bool = True
    interval: Duration | None = None
    deadline: Duration | None = None
    poll_interval: Duration | None = None
    final_hop: Hop | None = None
    bydel: str | None = Field(default=None, pattern=r"^\d{2}$")
    # Portal: pin the report version instead of negotiating it from the office's stottetVersjon.
    api_version: ApiVersionChoice | None = None
    # Altinn: send this route's canary as ordinary (not confidential) mail.
    confidential: bool | None = None
    # Altinn: the organisation that receives the canary, when it is not the municipality's own number.
    # TT02 (Altinn's test environment) holds mainly synthetic organisations, so a municipality's test
    # recipient is often another number than the one in Enhetsregisteret.
    recipient_organisasjonsnummer: Organisasjonsnummer | None = None


class Contact(Strict):
    """Someone at the municipality who receives its alerts."""

    name: str = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: HttpUrl | None = None


class MunicipalityFile(Strict):
    """``municipalities/<kommunenummer>-<slug>.yaml``: one onboarded municipality."""

    kommunenummer: str = Field(pattern=r"^\d{4}$")
    name: str = Field(min_length=1)
    organisasjonsnummer: str | None = Field(default=None, pattern=r"^\d{9}$")
    vendor: str = Field(pattern=VENDOR_ID_PATTERN)
    bydel: str | None = Field(default=None, pattern=r"^\d{2}$")
    channels: dict[Channel, MunicipalityChannel]
    contacts: list[Contact] = []

    # Numbers stay text: pydantic refuses a YAML integer for a ``str`` field, and the error names what
    # was written (an unquoted 0301 is the octal number 193), so nobody's 0301 silently becomes 301.

    @field_validator("channels", mode="before")
    @classmethod
    def _bare_channel_means_defaults(cls, value: Any) -> Any:
        # ``portal:`` with nothing after it is YAML for None; the operator means "with the defaults".
        if isinstance(value, dict):
            return {key: {} if overrides is None else overrides for key, overrides in value.items()}
        return value


_SLUG = re.compile(r"^(\d{4})(?:-.+)?\.ya?ml$")


def municipality_file_number(file_name: str) -> str | None:
    """The kommunenummer a municipality file's name promises (``4601-bergen.yaml`` → ``4601``)."""
    match = _SLUG.match(file_name)
    return match.group(1) if match else None
