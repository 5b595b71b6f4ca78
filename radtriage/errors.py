"""Exceptions the project raises for bad input, with the file and the problem named."""

from __future__ import annotations

from pathlib import Path


class RadTriageError(Exception):
    """Base class of every error the project raises on purpose."""


class InputError(RadTriageError):
    """An input file or folder cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}")


class UnsupportedInputError(InputError):
    """The input is valid but of a kind the project refuses on purpose (e.g. sheared affine)."""
