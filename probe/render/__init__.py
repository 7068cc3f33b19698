"""Monitoring artefacts generated from the configuration: alert rules, Alertmanager routing, dashboards."""
