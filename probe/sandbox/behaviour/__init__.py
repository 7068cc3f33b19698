"""How the simulated world behaves: machine latencies with long tails and slow days
(:mod:`~probe.sandbox.behaviour.latency`), and people who open the inbox only at work
(:mod:`~probe.sandbox.behaviour.people`). Pure functions of seeds and instants, shared by the sandbox's
servers and the soak's in-process upstreams."""
