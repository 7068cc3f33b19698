"""The durable record of every canary: the SQLite ledger (:mod:`.sqlite`)."""
