"""``python -m eventmesh.cli``: the ``eventmesh`` command (worker processes start this way)."""

from eventmesh.cli import main

raise SystemExit(main())
