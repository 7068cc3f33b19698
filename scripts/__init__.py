"""Repository scripts run with ``python -m scripts.NAME`` (importable by the tests)."""
