"""Sending channels; each maps its upstream's states onto the hops of :mod:`probe.hops`."""
