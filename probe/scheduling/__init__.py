"""When things happen: each route's next send (:mod:`.route_schedule`) and the ticks that drive the engine
(:mod:`.ticks`, the only user of APScheduler)."""
