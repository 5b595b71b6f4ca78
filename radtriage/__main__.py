"""``python -m radtriage`` runs the command-line interface."""

from radtriage.cli import main

raise SystemExit(main())
