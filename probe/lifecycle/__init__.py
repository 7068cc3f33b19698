"""A canary's life: its record, states and transitions (:mod:`.record`), the counters a record contributes
to (:mod:`.counters`), and how its verdict is decided (:mod:`.verdict`)."""
