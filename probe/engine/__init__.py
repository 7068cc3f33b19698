"""Verdicts, sending, polling and scheduling."""
