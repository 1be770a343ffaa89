"""``python -m sandbox``: same as the ``sandbox`` console script."""

from sandbox.cli import main

raise SystemExit(main())
