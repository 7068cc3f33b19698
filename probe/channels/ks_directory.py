"""KS's directory of receivers (DESIGN 3.2): a municipality's offices (bydeler) with the report version each
supports, and each office's encryption certificates, cached as KS's producer client would use them.

``GET api/v2/kommuner/{kommunenummer}/bydeler`` lists ``{bydelsnummer, bydelsnavn, standardMottaker,
stottetVersjon}``; the v1 path gives the same without ``stottetVersjon``. KS documents the field in its
kommune-api v2 ("indikerer hvilken versjon mottakeren støtter"; a receiver of v2 also takes v1) but not its
type, so :func:`supported_version` reads an integer, a digit string or ``v2``/``V2`` alike.

``GET api/{v}/mottak/fagsystem/{kommunenummer}/{bydelsnummer}/krypteringsnokler`` gives
``{printOffentligNokkel, fiksIOOffentligNokkel}``, each ``{nokkel: PEM certificate, validFrom, validTo,
...}``. Both answers change rarely, so they are cached for ``directory_cache``; certificates never past
their own expiry.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from cryptography import x509

from probe.canary.content import REPORT_VERSIONS
from probe.errors import InvalidResponseError, UpstreamError
from probe.hops import Channel

_VERSION = re.compile(r"^[vV]?(\d{1,3})$")
# KS refuses a report it cannot decrypt with its own print key with a 400 that says so ("Delen
# bekymringsmelding kunne ikke dekrypteres med print-sertifikatet"): the first sign that KS changed its
# keys while Kanari still holds the old certificates.
_KEY_REFUSAL = re.compile(r"dekrypter|krypteringsn|sertifikat|decrypt|certificate", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Bydel:
    """A receiving office of a municipality; ``supported_version`` is its ``stottetVersjon`` (``None``
    when the answer did not say, as on the v1 path)."""

    number: str
    name: str
    default_receiver: bool
    supported_version: int | None = None


@dataclasses.dataclass(frozen=True)
class ReceiverKeys:
    """The certificates a report is encrypted for, and until when they may be cached."""

    print_certificate: x509.Certificate
    fiks_io_certificate: x509.Certificate
    use_until: float


def supported_version(value: object) -> int | None:
    """``stottetVersjon`` as a number: ``2``, ``"2"``, ``"v2"`` and ``"V2"`` are all 2; absent is ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a version")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _VERSION.match(value.strip())):
        number = int(match.group(1))
    else:
        raise ValueError("not a version")
    if number < 1:
        raise ValueError("not a version")
    return number


def newest_shared_version(office: Bydel) -> str:
    """The newest report version both Kanari and the office support. An office that does not say
    gets v1: a v1 receiver must get v1, and only a v2 receiver is known to take v2."""
    supported = office.supported_version or 1
    usable = [version for version in REPORT_VERSIONS if int(version[1:]) <= supported]
    return usable[-1] if usable else REPORT_VERSIONS[0]


def parse_bydeler(answer: Any) -> list[Bydel]:
    """The offices of a ``bydeler`` answer; :class:`InvalidResponseError` when it is not one."""
    if not isinstance(answer, list):
        raise InvalidResponseError(Channel.PORTAL.value, "bydeler answer is not a list")
    bydeler = []
    for entry in answer:
        if not isinstance(entry, dict):
            raise InvalidResponseError(Channel.PORTAL.value, "bydel entry is not an object")
        number, name, default = (
            entry.get("bydelsnummer"),
            entry.get("bydelsnavn"),
            entry.get("standardMottaker"),
        )
        if not isinstance(number, str) or not isinstance(name, str) or not isinstance(default, bool):
            raise InvalidResponseError(
                Channel.PORTAL.value, "bydel entry lacks bydelsnummer/bydelsnavn/standardMottaker"
            )
        try:
            version = supported_version(entry.get("stottetVersjon"))
        except ValueError:
            raise InvalidResponseError(
                Channel.PORTAL.value, "bydel entry has an unreadable stottetVersjon"
            ) from None
        bydeler.append(Bydel(number, name, default, version))
    return bydeler


def parse_keys(answer: Any, cache_until: float) -> ReceiverKeys:
    """The certificates of a ``krypteringsnokler`` answer, usable until ``cache_until`` or the first
    certificate's expiry, whichever comes first."""
    if not isinstance(answer, dict):
        raise InvalidResponseError(Channel.PORTAL.value, "krypteringsnokler answer is not an object")
    certificates = []
    use_until = cache_until
    for field in ("printOffentligNokkel", "fiksIOOffentligNokkel"):
        key = answer.get(field)
        if not isinstance(key, dict) or not isinstance(key.get("nokkel"), str):
            raise InvalidResponseError(Channel.PORTAL.value, f"krypteringsnokler lacks {field}.nokkel")
        try:
            certificate = x509.load_pem_x509_certificate(key["nokkel"].encode())
        except ValueError:
            raise InvalidResponseError(
                Channel.PORTAL.value, f"{field}.nokkel is not a PEM certificate"
            ) from None
        # Never cache a certificate past its own expiry (``validTo`` says the same in local time).
        use_until = min(use_until, certificate.not_valid_after_utc.timestamp())
        certificates.append(certificate)
    return ReceiverKeys(certificates[0], certificates[1], use_until)


def refused_for_keys(error: UpstreamError) -> bool:
    """Whether a refused send names the encryption keys: the cached certificates may be stale."""
    return error.status_code == 400 and bool(error.detail and _KEY_REFUSAL.search(error.detail))
