"""Kanari's metrics: the metric set of DESIGN section 4 on a given registry (:mod:`.metric_set`), and the
cached text of its per-route series that ``/metrics`` serves (:mod:`.exposition`)."""
