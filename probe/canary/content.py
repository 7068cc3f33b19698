"""What a canary says: the report body for each channel, all fictional and in Norwegian (bokmål).

Every text opens with :data:`TEST_BANNER`, so a person who sees a canary knows at once it is a test. The
child has a synthetic fødselsnummer (:mod:`probe.canary.identity`); the reporter, the guardian, the
addresses, the phone number and the e-mail address belong to nobody. The sender (``leveringskanal`` and
``offentligMelder.virksomhet.navn``) names Kanari.

How a receiving system finds the marker:

- Portal (``bekymringsmelding.json``): ``melding.melding`` carries it on a line of its own,
  ``Kanari-markør: KANARI1.<payload>.<signature>``. :func:`probe.canary.marker.find_markers` (or the same
  regular expression) pulls it out of the text; the fagsystem then verifies it against Kanari's JWKS before
  treating the report as a test.
- Altinn: the ``propertyList`` entry ``kanariMarker`` holds it alone; the message body repeats it in a
  Markdown code span (so a renderer never mistakes its ``_`` for emphasis).

Contact details: the e-mail domain is ``kanari.invalid``. ``.invalid`` is reserved (RFC 2606, RFC 6761)
and can never be registered or deliver mail, yet it passes KS's ``epost`` pattern (which wants a final
label of two or more letters). The phone number ``00000000`` fits KS's ``telefonnummer`` pattern but is
not a Norwegian subscriber number (none begins with 0). The postcode ``0000`` does not exist.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.clock import NORWAY, to_local_text
from probe.hops import Channel

TEST_BANNER = "SYNTETISK TESTMELDING FRA KANARI - SKAL IKKE BEHANDLES. Ingen ekte personer."
MARKER_LABEL = "Kanari-markør"
SENDER_NAME = "Kanari syntetisk overvåking"
REPORT_VERSIONS = ("v1", "v2")
"""The KS report versions Kanari can write, oldest first."""
ALTINN_TEXT_LIMIT = 255  # Altinn's maximum for messageTitle and messageSummary

_EMAIL = "ingen-svar@kanari.invalid"
_PHONE = "00000000"
_FICTIONAL_ADDRESS = {
    "adresselinje1": "Syntetisk adresse 0 (finnes ikke)",
    "adresselinje2": "",
    "adresselinje3": "",
    "postnummer": "0000",
    "poststed": "INGENSTED",
}
_REPORTER = "Kari Kanari (syntetisk testmelder)"
_CHILD = "Testbarn Syntetisk Kanari"
_GUARDIAN = "Testforelder Syntetisk Kanari"
_NOT_INFORMED = "Syntetisk testmelding fra Kanari; barnet og de foresatte finnes ikke."


@dataclasses.dataclass(frozen=True, slots=True)
class CanarySubject:
    """Everything a channel needs to write one canary: its identity, its route and its fictional child."""

    canary_id: str
    channel: Channel
    kommunenummer: str
    kommunenavn: str
    bydelsnummer: str  # "00" when the municipality has no bydel
    bydelsnavn: str
    marker: str
    created_at: float  # Unix seconds
    child_fnr: str
    # Report times are local date-times without zone (KS: "ISO-8601 norsk tid uten tidssone").
    time_zone: str = NORWAY

    def local_time(self, instant: float) -> str:
        """``instant`` as a local date-time without zone in the subject's time zone."""
        return to_local_text(instant, self.time_zone)


def report_lines(subject: CanarySubject) -> list[str]:
    """The report's free text, line by line, banner first and the marker on a line of its own; shared by
    the JSON body and the PDF so both say the same."""
    return [
        TEST_BANNER,
        "",
        "Dette er en automatisk, syntetisk testmelding sendt av Kanari for å kontrollere at "
        f"bekymringsmeldinger kommer fram til barneverntjenesten i {subject.kommunenavn} "
        f"({subject.kommunenummer}). Barnet, melderen og de foresatte finnes ikke. Meldingen skal ikke "
        "behandles som en bekymringsmelding.",
        "",
        "Mottakssystemet kan skjule eller lukke meldingen automatisk, men bare etter å ha verifisert "
        "signaturen i markøren under mot Kanaris offentlige nøkler (/.well-known/kanari/keys.json).",
        "",
        f"{MARKER_LABEL}: {subject.marker}",
        f"Kanari-id: {subject.canary_id}",
        f"Kanal: {subject.channel.value}",
        f"Opprettet: {subject.local_time(subject.created_at)}",
    ]


def portal_report(subject: CanarySubject, api_version: str = "v2") -> dict[str, Any]:
    """The ``bekymringsmelding.json`` of a public-sector report (``offentlig``) in KS's schema for
    ``api_version`` (``v1`` or ``v2``; v2 adds ``melding.andreSynspunkter``)."""
    if api_version not in REPORT_VERSIONS:
        raise ValueError(f"unknown bekymringsmelding API version {api_version!r}")
    melding = {
        "melding": "\n".join(report_lines(subject)),
        "historie": f"{TEST_BANNER}\nIngen historikk: meldingen er syntetisk.",
    }
    if api_version == "v2":
        melding["andreSynspunkter"] = f"{TEST_BANNER}\nIngen andre synspunkter: meldingen er syntetisk."
    return {
        "kommunenummer": subject.kommunenummer,
        "kommunenavn": subject.kommunenavn,
        "bydelsnummer": subject.bydelsnummer,
        "bydelsnavn": subject.bydelsnavn,
        "offentligMelder": {
            "personnavn": _REPORTER,
            "rolle": "Syntetisk testavsender",
            "telefonnummer": _PHONE,
            "epost": _EMAIL,
            # No orgnr: a fictional sender must not borrow a real organisation's number.
            "virksomhet": {"navn": SENDER_NAME, "adresse": dict(_FICTIONAL_ADDRESS)},
        },
        "offentligBarn": [
            {
                "fnr": subject.child_fnr,
                "ufoedt": False,
                "personnavn": _CHILD,
                "adresse": dict(_FICTIONAL_ADDRESS),
                "orientert": False,
                "orientertGrunn": _NOT_INFORMED,
            }
        ],
        "foresatte": [{"personnavn": _GUARDIAN, "orientert": False, "orientertGrunn": _NOT_INFORMED}],
        "behovForTolk": "Nei (syntetisk testmelding).",
        "andreHjelpeinstanser": "Nei (syntetisk testmelding).",
        "melding": melding,
        "sendingstidspunkt": subject.local_time(subject.created_at),
        "leveringskanal": SENDER_NAME,
    }


def altinn_content(subject: CanarySubject) -> dict[str, str]:
    """The Altinn 3 Correspondence ``content``: plain-text title and summary (at most
    :data:`ALTINN_TEXT_LIMIT` characters each), Markdown body with the banner first and the marker in a
    code span."""
    title = f"{TEST_BANNER} ({subject.kommunenavn})"
    summary = (
        f"{TEST_BANNER} Kanari kontrollerer at meldinger til {subject.kommunenavn} blir hentet. "
        f"Kanari-id: {subject.canary_id}"
    )
    body_lines = [f"**{TEST_BANNER}**", ""]
    for line in report_lines(subject)[2:]:
        text = f"{MARKER_LABEL}: `{subject.marker}`" if line.startswith(f"{MARKER_LABEL}: ") else line
        # Two trailing spaces keep the short fact lines apart in Markdown without making paragraphs.
        body_lines.append(f"{text}  " if text else text)
    return {
        "language": "nb",
        "messageTitle": _clip(title),
        "messageSummary": _clip(summary),
        "messageBody": "\n".join(body_lines),
    }


def altinn_property_list(subject: CanarySubject) -> dict[str, str]:
    """The Correspondence ``propertyList``: the marker and the canary id, for systems importing Altinn
    mail to recognise a canary without parsing the body."""
    return {"kanariMarker": subject.marker, "kanariCanaryId": subject.canary_id}


# The limits Altinn's request model enforces (``Altinn/altinn-correspondence``,
# ``src/Altinn.Correspondence.API/Models/BaseCorrespondenceExt.cs`` and
# ``InitializeCorrespondenceContentExt.cs``). Altinn counts .NET string lengths, UTF-16 code units.
ALTINN_BODY_LIMIT = 30_000  # messageBody, Markdown
ALTINN_SENDERS_REFERENCE_LIMIT = 4096
ALTINN_PROPERTY_COUNT_LIMIT = 10
ALTINN_PROPERTY_KEY_LIMIT = 50
ALTINN_PROPERTY_VALUE_LIMIT = 300
ALTINN_RECIPIENT_URN = "urn:altinn:organization:identifier-no:"
"""Altinn wants an organisation recipient with this prefix (or ``0192:``); a bare number is refused."""


def altinn_correspondence(
    subject: CanarySubject, resource_id: str, orgnr: str, *, confidential: bool = True
) -> dict[str, Any]:
    """The JSON body of ``POST /correspondence/api/v1/correspondence`` for the canary, to the
    organisation ``orgnr`` on ``resource_id``.

    ``idempotentKey`` is the canary id, so a retried send gives 409 instead of a second correspondence;
    ``sendersReference`` too, so an unanswered send can be looked up. ``isConfidential`` is on by
    default: the police reports that went unopened were confidential mail, and a canary tests that path
    only by travelling it (DESIGN 3.3); the resource must match (Altinn refuses a confidential flag on an
    ordinary resource with 1061, and ordinary mail on a confidential one with 1060).

    Raises :class:`ValueError` when the body would break a limit Altinn enforces (a property key over 50
    or value over 300 characters, more than 10 properties, a body over 30 000, a title or summary over
    255, a recipient that is not nine digits): such a canary would only be refused, so it is never sent.
    """
    content = altinn_content(subject)
    properties = altinn_property_list(subject)
    problems = [
        *_length_problems(content),
        *_property_problems(properties),
        *_reference_problems(subject.canary_id, orgnr),
    ]
    if problems:
        raise ValueError("the canary breaks Altinn's limits: " + "; ".join(problems))
    return {
        "correspondence": {
            "resourceId": resource_id,
            "sendersReference": subject.canary_id,
            # Shown as the sender in the inbox, so whoever opens it sees at once who sent it.
            "messageSender": SENDER_NAME,
            "content": content,
            "propertyList": properties,
            "isConfidential": confidential,
            "isConfirmationNeeded": False,
        },
        "recipients": [ALTINN_RECIPIENT_URN + orgnr],
        "idempotentKey": subject.canary_id,
    }


def altinn_length(text: str) -> int:
    """A text's length as Altinn (.NET) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _length_problems(content: dict[str, str]) -> list[str]:
    limits = {
        "messageTitle": ALTINN_TEXT_LIMIT,
        "messageSummary": ALTINN_TEXT_LIMIT,
        "messageBody": ALTINN_BODY_LIMIT,
    }
    return [
        f"{field} has {altinn_length(content[field])} characters (at most {limit})"
        for field, limit in limits.items()
        if altinn_length(content[field]) > limit
    ]


def _property_problems(properties: dict[str, str]) -> list[str]:
    problems = []
    if len(properties) > ALTINN_PROPERTY_COUNT_LIMIT:
        problems.append(f"{len(properties)} properties (at most {ALTINN_PROPERTY_COUNT_LIMIT})")
    for key, value in properties.items():
        if altinn_length(key) > ALTINN_PROPERTY_KEY_LIMIT:
            problems.append(
                f"property key of {altinn_length(key)} characters (at most {ALTINN_PROPERTY_KEY_LIMIT})"
            )
        if altinn_length(value) > ALTINN_PROPERTY_VALUE_LIMIT:
            # The length only: the value is the marker, evidence that belongs in the ledger, not here.
            problems.append(
                f"property {key!r} has {altinn_length(value)} characters "
                f"(at most {ALTINN_PROPERTY_VALUE_LIMIT})"
            )
    return problems


def _reference_problems(canary_id: str, orgnr: str) -> list[str]:
    problems = []
    if not 1 <= altinn_length(canary_id) <= ALTINN_SENDERS_REFERENCE_LIMIT:
        problems.append(f"sendersReference must be 1-{ALTINN_SENDERS_REFERENCE_LIMIT} characters")
    if len(orgnr) != 9 or not orgnr.isdigit():
        problems.append("the recipient organisation number must be nine digits")
    return problems


def _clip(text: str) -> str:
    # A long municipality name must not push the banner out; the banner always fits at the start. Altinn
    # counts UTF-16 code units, so a character outside the BMP counts twice.
    if altinn_length(text) <= ALTINN_TEXT_LIMIT:
        return text
    clipped = text[: ALTINN_TEXT_LIMIT - 1]
    while altinn_length(clipped) > ALTINN_TEXT_LIMIT - 1:
        clipped = clipped[:-1]
    return clipped + "…"
