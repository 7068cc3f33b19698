"""``python -m probe`` is the same as the ``kanari`` command."""

from probe.cli import main

raise SystemExit(main())
