"""A party's slow day, from the ratios of delivered canaries (:mod:`probe.lifecycle.slowdown`)."""

from __future__ import annotations

from probe.hops import Channel, Hop
from probe.lifecycle.slowdown import MIN_RATIOS, SLOW, WINDOW, Slowdown

PORTAL, RECEIPTED = Channel.PORTAL, Hop.RECEIPTED


def test_a_hop_is_slow_when_the_median_of_recent_ratios_is() -> None:
    slowdown = Slowdown()
    for at, ratio in enumerate((3.0, 2.5, 0.9)):
        slowdown.observe(PORTAL, RECEIPTED, "nordlys", ratio, float(at))
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", 10.0) == 2.5
    # The whole channel's routes are slow too (they are the same three canaries) ...
    assert slowdown.factor(PORTAL, RECEIPTED, "vidde", 10.0) == 2.5
    # ... but not another hop, nor another channel.
    assert slowdown.factor(PORTAL, Hop.FORWARDED, "nordlys", 10.0) == 1.0
    assert slowdown.factor(Channel.ALTINN, RECEIPTED, "nordlys", 10.0) == 1.0


def test_one_vendor_slow_among_many_fast_is_slow_for_its_own_routes_only() -> None:
    slowdown = Slowdown()
    for at in range(3):
        slowdown.observe(PORTAL, RECEIPTED, "vidde", 3.0, float(at))
    for at in range(10):
        slowdown.observe(PORTAL, RECEIPTED, "nordlys", 1.0, float(at))
    assert slowdown.factor(PORTAL, RECEIPTED, "vidde", 20.0) == 3.0
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", 20.0) == 1.0


def test_too_few_ratios_or_a_small_rise_is_not_a_slowdown() -> None:
    slowdown = Slowdown()
    for at in range(MIN_RATIOS - 1):
        slowdown.observe(PORTAL, RECEIPTED, "nordlys", 4.0, float(at))
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", 10.0) == 1.0
    healthy = Slowdown()
    for at in range(10):
        healthy.observe(PORTAL, RECEIPTED, "nordlys", SLOW - 0.01, float(at))
    assert healthy.factor(PORTAL, RECEIPTED, "nordlys", 20.0) == 1.0


def test_the_slow_day_ends_when_its_ratios_are_older_than_the_window() -> None:
    slowdown = Slowdown()
    for at in range(5):
        slowdown.observe(PORTAL, RECEIPTED, "nordlys", 3.0, float(at))
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", WINDOW) == 3.0
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", WINDOW + 5.0) == 1.0


def test_a_delivery_judged_out_of_order_is_kept_in_time_order() -> None:
    slowdown = Slowdown()
    slowdown.observe(PORTAL, RECEIPTED, "nordlys", 3.0, 100.0)
    slowdown.observe(PORTAL, RECEIPTED, "nordlys", 3.0, 50.0)
    slowdown.observe(PORTAL, RECEIPTED, "nordlys", 3.0, 120.0)
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", 130.0) == 3.0
    # The one at 50 expires first, whatever order it came in.
    assert slowdown.factor(PORTAL, RECEIPTED, "nordlys", 50.0 + WINDOW + 1) == 1.0
