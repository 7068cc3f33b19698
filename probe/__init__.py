"""Kanari: a synthetic end-to-end probe for child-welfare concern reports (bekymringsmeldinger).

The package is laid out by concept, with imports flowing one way (from the CLI down to the channels):

- ``cli``: commands; nothing else imports it.
- ``config``: models, loading, the national registry, ``config check``.
- ``canary``: the signed marker, the synthetic identity, the report content (JSON, PDF, ASiC-E, CMS).
- ``maskinporten``: the token client both channels use.
- ``channels``: the KS Fiks portal and Altinn Correspondence, each mapping upstream states onto hops.
- ``readback``: the vendor read-back client.
- ``ledger``: the SQLite store of canaries and their hops.
- ``engine``: verdicts, sending, polling, scheduling.
- ``metrics``: the metric set, built on a given registry.
- ``web``: the probe's HTTP surface.
- ``render``: alert rules, Alertmanager routing and dashboards generated from the configuration.
- ``sandbox``: the simulated world; the probe never imports it.
"""

__version__ = "0.1.0"
