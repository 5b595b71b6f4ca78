"""``python -m radtriage`` runs the command-line interface."""

from radtriage.cli import main

if __name__ == "__main__":  # not in processes that re-import the main module (Dask / multiprocessing spawn)
    raise SystemExit(main())
