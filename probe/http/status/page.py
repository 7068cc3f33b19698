"""Rendering the status page's views to HTML with Jinja2 (templates in ``templates/``, package data).

Autoescaping is on for every template: nothing from the configuration or the ledger reaches the page
unescaped. Times are shown in Norwegian local time, shares and durations in the page's language. The
page needs no JavaScript and no external resource (its style is inline), so it works on an air-gapped
operations network and under a strict content security policy.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from probe.clock import NORWAY, to_datetime
from probe.hops import Hop
from probe.http.status.charts import hop_chart
from probe.http.status.texts import Language, texts
from probe.http.status.views import (
    SYMBOLS,
    ChannelDetail,
    MunicipalityView,
    NationalView,
    RouteState,
    VendorView,
)

_ZONE = zoneinfo.ZoneInfo(NORWAY)
# What a missing value shows (an en dash).
DASH = "\u2013"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("probe.http.status", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["day"] = day
    return environment


def when(instant: float | None) -> str:
    """``instant`` as Norwegian local time to the minute (:data:`DASH` for none)."""
    if instant is None:
        return DASH
    return to_datetime(instant).astimezone(_ZONE).strftime("%Y-%m-%d %H:%M")


def day(instant: float) -> str:
    """The Norwegian local date of ``instant``."""
    return to_datetime(instant).astimezone(_ZONE).strftime("%Y-%m-%d")


def duration(seconds: float | None, lang: Language) -> str:
    """A latency or deadline as people read it: seconds under two minutes, then minutes, then hours."""
    if seconds is None:
        return DASH
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} {'t' if lang is Language.NB else 'h'}".replace(
        ".", "," if lang is Language.NB else "."
    )


def percent(share: float | None, lang: Language) -> str:
    """A share as a percentage with one decimal (bokmål: decimal comma)."""
    if share is None:
        return DASH
    text = f"{share * 100:.1f} %"
    return text.replace(".", ",") if lang is Language.NB else text


class Renderer:
    """Renders each view in one language. Built once; rendering is thread-safe (Jinja2 templates are)."""

    def __init__(self) -> None:
        self._environment = _environment()

    def _render(self, template: str, lang: Language, path: str, **context: Any) -> str:
        words = texts(lang)
        other = Language.EN if lang is Language.NB else Language.NB
        common = {
            "t": words,
            "lang": lang.value,
            "path": path,
            "other_lang": other.value,
            # Kept on every link, so a reader who chose English stays in English.
            "q": "" if lang is Language.NB else f"?lang={lang.value}",
            "symbols": SYMBOLS,
            "states": list(RouteState),
            # Per state: its symbol and words, looked up once per page rather than per grid cell.
            "state_words": {state: words[f"state_{state.value}"] for state in RouteState},
            "dur": lambda seconds: duration(seconds, lang),
            "pct": lambda share: percent(share, lang),
            "hop_name": lambda hop: words[f"hop_{hop.value}"],
        }
        return self._environment.get_template(template).render(**common, **context)

    def national(self, view: NationalView, lang: Language, path: str = "/status") -> str:
        """The public national view."""
        return self._render("national.html.j2", lang, path, view=view)

    def vendor(self, view: VendorView, lang: Language, path: str) -> str:
        """A vendor's view."""
        return self._render("vendor.html.j2", lang, path, view=view)

    def municipality(
        self,
        view: MunicipalityView,
        lang: Language,
        path: str,
        runbook_url: Callable[[str], str],
        vendor_names: Mapping[str, str],
    ) -> str:
        """A municipality's view; ``runbook_url`` turns an alert name into its runbook link."""
        words = texts(lang)
        charts = {detail.route.channel.value: _chart(detail, lang, words) for detail in view.channels}
        return self._render(
            "municipality.html.j2",
            lang,
            path,
            view=view,
            charts=charts,
            runbook_url=runbook_url,
            vendor_names=vendor_names,
        )

    def message(self, lang: Language, path: str, heading: str, body: str) -> str:
        """A page that only says something (not found, unavailable)."""
        words = texts(lang)
        return self._render("message.html.j2", lang, path, heading=words[heading], body=words[body])


def _chart(detail: ChannelDetail, lang: Language, words: Mapping[str, str]) -> str:
    route = detail.route
    hop_names: dict[Hop, str] = {hop: words[f"hop_{hop.value}"] for hop in Hop}
    return hop_chart(
        detail.canaries,
        route.deadline,
        title=f"{words['hop_timeline']}: {words['channel_' + route.channel.value]}",
        hop_names=hop_names,
        row_labels=[when(line.sent_at)[11:] for line in detail.canaries],
        deadline_label=f"{words['deadline']} {duration(route.deadline, lang)}",
        described_by=f"table-{route.channel.value}",
    )
