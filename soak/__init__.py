"""The soak: a simulated year of Kanari in fake time (``python -m soak``, ``make soak``).

The real engine (:class:`probe.engine.core.Engine`: verdicts, the SQLite ledger, the learned deadlines,
the metrics) runs on a :class:`probe.clock.FakeClock` against in-process upstreams driven by the
sandbox's world model (:mod:`probe.sandbox.behaviour`), with thousands of seeded faults; the results
(false pages, detection against the physical floor) go to ``soak/results.json``.
"""
