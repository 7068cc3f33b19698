"""Which replica sends: the leader lease (:mod:`probe.leadership.lease`) and what a standby shows
(:mod:`probe.leadership.standby`)."""
