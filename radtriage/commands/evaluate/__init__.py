"""The ``radtriage evaluate`` subcommands, one module each (their table is ``radtriage.cli.EVALUATE_COMMANDS``)."""
