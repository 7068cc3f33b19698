"""Both languages have every text, and the page's language comes from ``?lang=``."""

from __future__ import annotations

from probe.hops import Channel, Hop, Owner, Verdict
from probe.http.status.texts import Language, language, texts
from probe.http.status.views import RouteState


def test_every_key_in_both_languages_and_none_empty() -> None:
    bokmal, english = texts(Language.NB), texts(Language.EN)
    assert bokmal.keys() == english.keys()
    assert all(value.strip() for value in [*bokmal.values(), *english.values()])
    assert bokmal["national"] != english["national"]


def test_every_state_channel_hop_owner_and_verdict_has_words() -> None:
    words = texts(Language.NB)
    names = [f"state_{s.value}" for s in RouteState] + [f"channel_{c.value}" for c in Channel]
    names += [f"hop_{h.value}" for h in Hop] + [f"owner_{o.value}" for o in Owner]
    names += [f"verdict_{v.value}" for v in Verdict]
    assert [name for name in names if name not in words] == []


def test_the_language_is_bokmal_unless_english_is_asked_for() -> None:
    assert language(None) is Language.NB
    assert language("") is Language.NB
    assert language("en") is Language.EN
    assert language("nb") is Language.NB
    assert language("de") is Language.NB
