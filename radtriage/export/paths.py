"""Path safety for exports: every file an export writes lies inside the export folder.

Names that come from data (case ids, reader ids, channel names) are never joined as given: :func:`safe_name`
turns them into one plain file-name component (no separators, no ``..``, no leading dot, no absolute path), and
:func:`safe_child` refuses any path that would leave the root or pass through a symbolic link.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from radtriage.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 80


def safe_name(text: str) -> str:
    """One file-name component made from ``text``: letters, digits, ``. _ -`` only, no leading dot, at most
    ``MAX_NAME`` characters. When anything had to change, a short hash of the original is appended so that two
    different ids never get the same name (``"../x"`` -> ``"x-3f1c2a9b"``)."""
    text = str(text)
    cleaned = _UNSAFE.sub("_", text).strip("._-")[:MAX_NAME] or "case"
    if cleaned != text:
        cleaned = f"{cleaned[: MAX_NAME - 9]}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"
    return cleaned


def unique_names(texts: list[str]) -> dict[str, str]:
    """:func:`safe_name` of every text, refusing two texts that end up with one name (case-insensitively, so
    exports stay valid on macOS and Windows file systems)."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for text in texts:
        name = safe_name(text)
        other = seen.get(name.lower())
        if other is not None and other != text:
            raise InputError(None, f"ids {other!r} and {text!r} give the same file name {name!r}; rename one")
        seen[name.lower()] = text
        out[text] = name
    return out


def safe_child(root: Path, *parts: str) -> Path:
    """``root / parts...`` after checking that it stays inside ``root`` and that neither it nor any folder between
    it and ``root`` is a symbolic link (an existing link could send the write anywhere). Parts must already be
    plain components (see :func:`safe_name`); ``InputError`` names the path otherwise."""
    root = Path(root)
    path = root
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise InputError(root, f"refusing unsafe path component {part!r} inside the export")
        path = path / part
        if path.is_symlink():
            raise InputError(path, "is a symbolic link inside the export folder; refused")
    if not path.resolve().is_relative_to(root.resolve()):
        raise InputError(path, f"would lie outside the export folder {root}; refused")
    return path


def prepare_export_folder(root: str | Path) -> Path:
    """The export folder, created if needed; refused when it is a symbolic link, a file, or not empty (an export
    never mixes with or overwrites other files)."""
    root = Path(root).expanduser()
    if root.is_symlink():
        raise InputError(root, "the export folder is a symbolic link; give the real folder")
    if root.exists():
        if not root.is_dir():
            raise InputError(root, "exists and is not a folder")
        if any(root.iterdir()):
            raise InputError(root, "the export folder is not empty; give a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    return root.absolute()
