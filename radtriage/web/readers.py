"""The readers of a multi-reader station (``radtriage serve --readers FILE``): one ``reader_id [token]`` a line.

A line without a token gets a fresh random one, printed once at start in that reader's ready URL. Blank lines
and ``#`` comments are skipped. Reader ids follow the annotation store's rules; tokens the access rules
(:func:`radtriage.web.access.resolve_token`); both must be unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radtriage.annotations.records import check_identifier
from radtriage.errors import InputError
from radtriage.web.access import resolve_token

MAX_READERS = 16
"""Each reader gets a station process (a scene, some hundred MB): the launcher starts at most this many."""


@dataclass(frozen=True)
class Reader:
    """A reader id and the token that opens that reader's station."""

    reader_id: str
    token: str


def parse_readers(text: str, source: str = "readers file") -> list[Reader]:
    """The readers listed in ``text``; InputError naming the line for a bad, repeated or surplus entry."""
    readers: list[Reader] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"line {number}"
        if len(words) > 2:
            raise InputError(source, f"{where}: expected 'reader_id [token]', got {len(words)} words")
        try:
            reader = Reader(check_identifier(words[0], "reader id"), resolve_token(words[1] if words[1:] else None))
        except (ValueError, InputError) as exc:
            raise InputError(source, f"{where}: {exc}") from None
        if any(r.reader_id == reader.reader_id for r in readers):
            raise InputError(source, f"{where}: reader {reader.reader_id!r} is listed twice")
        if any(r.token == reader.token for r in readers):
            raise InputError(source, f"{where}: two readers have the same token")
        readers.append(reader)
    if not readers:
        raise InputError(source, "no reader listed (one 'reader_id [token]' a line)")
    if len(readers) > MAX_READERS:
        raise InputError(source, f"{len(readers)} readers; at most {MAX_READERS} (one station process each)")
    return readers


def read_readers(path: str | Path) -> list[Reader]:
    """The readers listed in the file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read the readers file: {exc.strerror or exc}") from None
    return parse_readers(text, str(path))
