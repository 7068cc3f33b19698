"""Monitoring artefacts generated from the configuration: alert rules, Alertmanager routing, dashboards.

Everything is rendered from one loaded :class:`~probe.config.loader.KanariConfig` (read without
secrets), written deterministically and committed; ``kanari render --check`` fails on any drift.

- ``timing``: every window and ``for:``, derived from the configured intervals (``ChannelTiming``) or
  fixed and compressible for tests (``Timing``, ``PRODUCTION.compressed(factor)``).
- ``recording``: the recording rules the alerts and dashboards share.
- ``alerts``: the alerting rules and the rule file (``render_rules(config, timing)``).
- ``alertmanager``: routing, receivers and inhibition (``render_alertmanager(config, timing, sink)``).
- ``dashboards``: the Grafana dashboards (``render_dashboards(config)``).
- ``links``: dashboard uids, runbook and dashboard URLs; ``promql``, ``durations``, ``output``: helpers.
- ``artefacts``: the committed paths, writing and drift checking (used by ``kanari render``).
"""
