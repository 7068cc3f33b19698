"""The exit codes of every ``kanari`` command, so a script can tell the outcomes apart."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """How a command ended."""

    OK = 0  # done: valid, delivered, in sync
    FAILED = 1  # the thing checked is not healthy: invalid, not delivered, drifted
    USAGE = 2  # the command could not run as asked: bad arguments or an unusable configuration
    INCOMPLETE = 3  # nothing failed, but not everything could be checked (kanari readback verify)
