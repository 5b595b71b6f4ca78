"""The ``radtriage`` commands, one module each: its argparse setup (``add_arguments``) next to its handler (``run``)."""
