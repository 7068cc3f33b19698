"""Kanari: a synthetic end-to-end probe for child-welfare concern reports (bekymringsmeldinger).

The package is laid out by concept, with imports flowing one way, from the commands down to the
vocabulary (the contracts are checked by import-linter in ``make lint``):

- ``cli``: commands; nothing else imports it.
- ``service``, ``runtime``: the running probe (engine, scheduler, HTTP) and its assembly from a
  configuration.
- ``http``: the probe's HTTP surface and the server it (and the sandbox) is served by.
- ``render``: alert rules, Alertmanager routing and dashboards generated from the configuration.
- ``engine``: sending, following and judging canaries on every tick.
- ``scheduling``: each route's next send, and the ticks.
- ``channels``: the KS Fiks portal and Altinn Correspondence, each mapping upstream states onto hops.
- ``checks``: receiving-side checks (the vendors' read-back API).
- ``transport``: one bounded HTTP client per upstream, its connection pool, the Maskinporten tokens.
- ``ledger``: the SQLite store of canaries and their counters.
- ``metrics``: the metric set, and the cached exposition of its per-route series.
- ``lifecycle``: a canary's record, states and transitions, its counters, how its verdict is decided.
- ``canary``: the signed marker, the synthetic identity, the report content (JSON, PDF, ASiC-E, CMS).
- ``config``: models, loading, validation, the national registry, key files.
- ``hops``, ``errors``, ``clock``, ``diagnostics``: the vocabulary everything else uses.
- ``sandbox``: the simulated world; the probe never imports it.
"""

from importlib.metadata import version

# The one place the version is written is pyproject.toml; the installed package's metadata carries it.
__version__ = version("kanari")
