"""Receiving-side checks: what the receiving systems themselves say about a canary, beyond the channels'
own status (the vendors' read-back API, :mod:`.readback`)."""
