"""Talking to upstreams: one bounded, typed HTTP client per upstream (:mod:`.upstream`) over a pooled
transport (:mod:`.pool`), and the Maskinporten token client every upstream's bearer comes from
(:mod:`.maskinporten`)."""
