"""Alert rules (DESIGN section 5) and the rule file ``config/prometheus/alerts.yml``.

Every alert carries:

- ``severity``: ``critical`` pages, ``warning`` is a ticket, ``none`` only for ``KanariWatchdog``;
- ``owner``: who is paged (``ks``, ``digdir``, ``vendor``, ``municipality``, ``ops``); on the loss
  alerts it is the blamed hop's owner, taken from ``kanari_undelivered_total``;
- ``channel``: ``portal`` or ``altinn``; probe-wide alerts carry ``channel="all"``;
- ``scope``: ``route`` (one municipality's route, also labelled ``municipality``, ``municipality_name``
  and ``vendor``), ``vendor``, ``channel`` or ``probe``. Alertmanager's inhibition keys on it: a channel
  that is down inhibits that channel's ``scope="route"`` alerts;
- ``job``: the configured scrape job (``alerting.job``), also in every selector of every rule and on
  every recorded series, so two deployments in one Prometheus never mix and Alertmanager's inhibitions
  can be ``equal`` on it;
- annotations ``summary``, ``description``, ``runbook_url`` and ``dashboard_url`` (:mod:`.links`).

Thresholds and ``for:`` durations come from :mod:`probe.render.timing`, which documents the formulas.

The package: :mod:`.model` (the Alert record and shared thresholds), :mod:`.route`, :mod:`.channel`
and :mod:`.probe` (the alerts by scope; :mod:`.probe` also the alerting pipeline's) and :mod:`.rules`
(the rule file).
"""

from probe.render.alerts.model import PROBE_WIDE, Alert
from probe.render.alerts.rules import header, render_rules, rule_groups

__all__ = ["PROBE_WIDE", "Alert", "header", "render_rules", "rule_groups"]
