"""Command line interface (placeholder until the commands land)."""


def main() -> int:
    """Entry point of the ``kanari`` command."""
    return 0
