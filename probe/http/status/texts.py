"""The status page's words, in Norwegian bokmål (the default) and English (``?lang=en``).

Every text the page shows is here, keyed by name, so a translation is one table and a test can check
that both languages have every key. Hop, owner, verdict and state names are translated here too: the
page never shows an enum's raw value as prose.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Language(enum.StrEnum):
    """A language the page is written in."""

    NB = "nb"
    EN = "en"


DEFAULT = Language.NB

_TEXTS: dict[str, tuple[str, str]] = {
    # key: (bokmål, English)
    "title": ("Kanari \u2013 status for bekymringsmeldinger", "Kanari \u2013 status of concern reports"),
    "national": ("Nasjonal status", "National status"),
    "national_intro": (
        "Kanari sender merkede testmeldinger gjennom hver kanal til hver kommune og følger dem til de er "
        "registrert. Her ser du om rutene leverer nå.",
        "Kanari sends marked test reports through every channel to every municipality and follows them "
        "until they are registered. This shows whether the routes deliver now.",
    ),
    "updated": ("Oppdatert", "Updated"),
    "channel": ("Kanal", "Channel"),
    "routes": ("Ruter", "Routes"),
    "delivering_share": ("Andel ruter som leverer", "Share of routes delivering"),
    "open_incidents": ("Åpne hendelser", "Open incidents"),
    "past_incidents": ("Tidligere hendelser", "Past incidents"),
    "no_incidents": ("Ingen hendelser.", "No incidents."),
    "legend": ("Forklaring", "Legend"),
    "municipalities_by_county": ("Kommuner etter fylke", "Municipalities by county"),
    "no_routes": ("Ingen ruter er satt opp for denne kanalen.", "No routes are configured on this channel."),
    "vendor": ("Leverandør", "Vendor"),
    "municipality": ("Kommune", "Municipality"),
    "county": ("Fylke", "County"),
    "state": ("Tilstand", "State"),
    "share_7d": ("Levert siste 7 dager", "Delivered, last 7 days"),
    "share_30d": ("Levert siste 30 dager", "Delivered, last 30 days"),
    "judged": ("vurderte testmeldinger", "judged canaries"),
    "last_latency": ("Siste leveringstid", "Latest delivery time"),
    "median_latency": ("Median av siste leveringstider", "Median of latest delivery times"),
    "last_delivered": ("Sist levert", "Last delivered"),
    "final_hop": ("Siste steg", "Final hop"),
    "deadline": ("Frist", "Deadline"),
    "learned_deadline": ("Lært frist per steg", "Learned deadline per hop"),
    "no_learned_deadline": (
        "Ingen lært frist ennå; den konfigurerte fristen gjelder.",
        "No learned deadline yet; the configured deadline applies.",
    ),
    "last_canaries": ("Siste testmeldinger", "Latest canaries"),
    "no_canaries": ("Ingen testmeldinger sendt ennå.", "No canaries sent yet."),
    "canary": ("Testmelding", "Canary"),
    "sent": ("Sendt", "Sent"),
    "verdict": ("Utfall", "Verdict"),
    "underway": ("underveis", "in flight"),
    "hop_timeline": ("Tid fra sending til hvert steg", "Time from sending to each hop"),
    "hop": ("Steg", "Hop"),
    "owner": ("Ansvarlig", "Owner"),
    "opened": ("Oppdaget", "Detected"),
    "incident_closed": ("Lukket", "Closed"),
    "still_open": ("pågår", "ongoing"),
    "exposure": ("Eksponeringsvindu", "Exposure window"),
    "exposure_help": (
        "Ekte meldinger sendt på denne ruten i vinduet kan ha gått tapt.",
        "Real reports sent on this route in the window may have been lost.",
    ),
    "retained_until": ("KS oppbevarer meldingene til", "KS keeps the reports until"),
    "lost_canaries": ("Tapte testmeldinger", "Lost canaries"),
    "what_to_do": ("Hva gjør vi nå?", "What to do"),
    "what_to_do_ok": ("Rutene leverer. Ingenting å gjøre.", "The routes deliver. Nothing to do."),
    "what_to_do_incident": (
        "Sjekk i KS' løsning hvilke ekte meldinger som ble sendt i eksponeringsvinduet, og hent dem før "
        "KS sletter dem. Bruk manuelle rutiner (telefon, post) til ruten leverer igjen.",
        "Check in KS's service which real reports were sent in the exposure window, and recover them "
        "before KS deletes them. Use manual routines (phone, post) until the route delivers again.",
    ),
    "runbook": ("Rutinebeskrivelse", "Runbook"),
    "language": ("English", "Norsk"),
    "restricted": ("Krever innlogging", "Requires sign-in"),
    "back": ("Til nasjonal status", "To national status"),
    "not_found": ("Finnes ikke", "Not found"),
    "not_found_vendor": (
        "Ingen leverandør med denne id-en er satt opp.",
        "No vendor with this id is configured.",
    ),
    "not_found_municipality": (
        "Ingen rute til denne kommunen er satt opp.",
        "No route to this municipality is configured.",
    ),
    "unavailable": ("Statussiden er midlertidig utilgjengelig", "The status page is temporarily unavailable"),
    "unavailable_help": (
        "Kanari kunne ikke lese hovedboken. Prøv igjen om litt.",
        "Kanari could not read its ledger. Try again shortly.",
    ),
    "local_time": ("norsk tid", "Norwegian time"),
    # Route states, shown with their symbol in the grid and the legend.
    "state_delivering": ("Leverer", "Delivering"),
    "state_broken": ("Feiler", "Failing"),
    "state_unknown": ("Ukjent (Kanari ser ikke)", "Unknown (Kanari cannot see)"),
    "state_pending": ("Ikke målt ennå", "Not measured yet"),
    # Channels.
    "channel_portal": ("Portalen (KS Fiks)", "Portal (KS Fiks)"),
    "channel_altinn": ("Altinn", "Altinn"),
    # Verdicts.
    "verdict_delivered": ("levert", "delivered"),
    "verdict_lost": ("tapt", "lost"),
    "verdict_failed": ("feilet", "failed"),
    "verdict_unknown": ("ukjent", "unknown"),
    # Hops.
    "hop_accepted": ("mottatt av kanalen", "accepted"),
    "hop_forwarded": ("sendt til fagsystem", "forwarded"),
    "hop_receipted": ("kvittert av fagsystem", "receipted"),
    "hop_published": ("publisert", "published"),
    "hop_fetched": ("hentet av kommunen", "fetched"),
    "hop_read": ("lest", "read"),
    "hop_registered": ("registrert i fagsystem", "registered"),
    # Owners.
    "owner_ks": ("KS", "KS"),
    "owner_digdir": ("Digdir", "Digdir"),
    "owner_vendor": ("leverandøren", "the vendor"),
    "owner_municipality": ("kommunen", "the municipality"),
    "owner_ops": ("driftssenteret (Kanari)", "the operations centre (Kanari)"),
}

_INDEX = {Language.NB: 0, Language.EN: 1}


def language(requested: str | None) -> Language:
    """The language asked for by ``?lang=``; anything unknown is the default (bokmål)."""
    try:
        return Language(requested) if requested else DEFAULT
    except ValueError:
        return DEFAULT


def texts(lang: Language) -> Mapping[str, str]:
    """Every text in ``lang``, by key."""
    index = _INDEX[lang]
    return {key: pair[index] for key, pair in _TEXTS.items()}
