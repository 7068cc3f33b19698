"""Rendering the views: escaping, languages, number formats, the legend's symbols and the runbook link."""

from __future__ import annotations

import dataclasses

from probe.hops import Channel
from probe.http.status import views
from probe.http.status.page import DASH, Renderer, day, duration, percent, when
from probe.http.status.texts import Language
from tests.http.status.fakes import NOW, ROUTES, broken_bergen


def test_formats_follow_the_language() -> None:
    assert percent(0.9876, Language.NB) == "98,8 %"
    assert percent(0.9876, Language.EN) == "98.8 %"
    assert percent(None, Language.NB) == DASH
    assert duration(42.4, Language.NB) == "42 s"
    assert duration(600.0, Language.EN) == "10 min"
    assert duration(8 * 3600.0, Language.NB) == "8,0 t"
    assert duration(8 * 3600.0, Language.EN) == "8.0 h"
    assert duration(None, Language.EN) == DASH
    # Norwegian local time: 2026-01-01T00:00Z is 01:00 in Oslo (winter), 2026-07-01T00:00Z is 02:00.
    assert when(1_767_225_600.0) == "2026-01-01 01:00"
    assert when(1_782_864_000.0) == "2026-07-01 02:00"
    assert when(None) == DASH
    assert day(1_767_225_600.0 + 23 * 3600) == "2026-01-02"


def test_names_from_the_configuration_are_escaped() -> None:
    hostile = dataclasses.replace(ROUTES[2], municipality_name="<script>alert(1)</script>")
    view = views.national_view([hostile], {}, [], NOW)
    html = Renderer().national(view, Language.NB)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_legend_names_every_state_with_its_symbol() -> None:
    html = Renderer().national(views.national_view(ROUTES, {}, [], NOW), Language.EN)
    for state, symbol in views.SYMBOLS.items():
        assert f'<span aria-hidden="true">{symbol}</span> ' in html, state
    assert "Not measured yet" in html
    assert '<html lang="en">' in html
    assert 'href="/status?lang=nb"' in html


def test_the_municipality_page_links_the_runbook_and_keeps_the_language_on_links() -> None:
    ledger = broken_bergen()
    recent = {r.key: ledger.recent_canaries(r.channel, "4601", 10) for r in ROUTES[:2]}
    view = views.municipality_view(
        "4601",
        ROUTES,
        recent=recent,
        incidents=ledger.incidents(municipality="4601"),
        taken_at=NOW,
        deadlines={},
    )
    assert view is not None
    html = Renderer().municipality(
        view,
        Language.EN,
        "/status/municipality/4601",
        lambda alert: f"https://docs/runbooks.md#{alert}",
        {"nordlys": "Nordlys Fagsystem AS"},
    )
    assert 'href="https://docs/runbooks.md#KanariReceiptWithoutRecord"' in html
    assert 'href="/status/vendor/nordlys?lang=en">Nordlys Fagsystem AS</a>' in html
    assert "KS keeps the reports until" in html
    assert html.count('<table id="table-') == 2
    assert f"{Channel.PORTAL.value}" in html


def test_a_message_page() -> None:
    html = Renderer().message(Language.NB, "/status/vendor/x", "not_found", "not_found_vendor")
    assert "Finnes ikke" in html
    assert "Ingen leverandør med denne id-en er satt opp." in html
