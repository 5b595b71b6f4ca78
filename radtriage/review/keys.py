"""The review keyboard shortcuts of the CaseReview module, checked against the keys Slicer 5.12 binds itself.

Qt fires neither of two enabled shortcuts on the same key ("ambiguous shortcut"), so a review key that Slicer
already uses would silently do nothing. :data:`SLICER_SHORTCUTS` lists Slicer 5.12.3's application-wide keys with
the source line that binds each one.
"""

from __future__ import annotations

REVIEW_SHORTCUTS: dict[str, tuple[str, ...]] = {
    "next": ("Ctrl+PgDown",),
    "previous": ("Ctrl+PgUp",),
    "commit": ("Ctrl+Return", "Ctrl+Enter"),
    "addMissed": ("Ctrl+Shift+M",),
}
"""Review action -> key sequences (Qt ``QKeySequence`` text), active while the module is shown."""

SHORTCUT_HELP: dict[str, str] = {
    "next": "next case",
    "previous": "previous case",
    "commit": "commit the labels of this case",
    "addMissed": "add a missed microbleed at the crosshair (Shift + mouse move places it)",
}

_MAIN_UI = "Base/QTApp/Resources/UI/qSlicerMainWindow.ui"
_MARKUPS_TOOLBAR = "Modules/Loadable/Markups/Widgets/qMRMLMarkupsToolBar.cxx"
_SEQUENCES = "Modules/Loadable/Sequences/Widgets/qMRMLSequenceBrowserPlayWidget.cxx"
_MODULE_TOOLBAR = "Base/QTGUI/qSlicerModuleSelectorToolBar.cxx"

SLICER_SHORTCUTS: dict[str, str] = {
    "Ctrl+Left": f"previous module ({_MODULE_TOOLBAR}:179)",
    "Ctrl+Right": f"next module ({_MODULE_TOOLBAR}:199)",
    "Ctrl+F": f"find module ({_MODULE_TOOLBAR}:119)",
    "Ctrl+Shift+A": f"Markups toolbar: create a markups node ({_MARKUPS_TOOLBAR}:84)",
    "Ctrl+Shift+T": f"Markups toolbar: toggle place persistence ({_MARKUPS_TOOLBAR}:85)",
    "Ctrl+Shift+Space": f"Markups toolbar: place a point ({_MARKUPS_TOOLBAR}:86)",
    "Ctrl+Shift+Down": f"Sequences: play / pause ({_SEQUENCES}:41)",
    "Ctrl+Shift+Left": f"Sequences: previous frame ({_SEQUENCES}:42)",
    "Ctrl+Shift+Right": f"Sequences: next frame ({_SEQUENCES}:43)",
    "Ctrl+O": f"add data ({_MAIN_UI}:370)",
    "Ctrl+S": f"save ({_MAIN_UI}:409)",
    "Ctrl+W": f"close scene ({_MAIN_UI}:448)",
    "Ctrl+Z": f"undo ({_MAIN_UI}:471)",
    "Ctrl+Y": f"redo ({_MAIN_UI}:486)",
    "Ctrl+X": f"cut ({_MAIN_UI}:547)",
    "Ctrl+C": f"copy ({_MAIN_UI}:562)",
    "Ctrl+V": f"paste ({_MAIN_UI}:577)",
    "Ctrl+H": f"home module ({_MAIN_UI}:777)",
    "Ctrl+0": "error log (Base/QTApp/qSlicerMainWindow.cxx:357)",
    "Ctrl+1": "documentation (Applications/SlicerApp/qSlicerAppMainWindow.cxx:86)",
    "Ctrl+2": f"application settings ({_MAIN_UI}:532)",
    "Ctrl+3": "Python console (Base/QTApp/qSlicerMainWindow.cxx:410)",
    "Ctrl+4": f"Extensions Manager ({_MAIN_UI}:501)",
    "Ctrl+5": "module panel (Base/QTApp/qSlicerMainWindow.cxx:158)",
    "Ctrl+6": f"maximize view ({_MAIN_UI}:594)",
    "Ctrl+B": "3D view tilt lock (Modules/Loadable/SubjectHierarchy/Widgets/"
              "qSlicerSubjectHierarchyViewContextMenuPlugin.cxx:187)",
}  # fmt: skip
"""Keys Slicer 5.12.3 binds application- or main-window-wide -> what they do (source file:line at v5.12.3)."""

_MODIFIERS = ("CTRL", "ALT", "SHIFT", "META")


def normalized_key(sequence: str) -> str:
    """``"shift+ctrl+a"`` -> ``"CTRL+SHIFT+A"``: modifiers in Qt's order, upper case (compares key texts)."""
    parts = [p.strip().upper() for p in sequence.split("+") if p.strip()]
    modifiers = sorted((p for p in parts if p in _MODIFIERS), key=_MODIFIERS.index)
    keys = [p for p in parts if p not in _MODIFIERS]
    if len(keys) != 1:
        raise ValueError(f"{sequence!r} is not one key with modifiers")
    return "+".join([*modifiers, *keys])


def shortcut_bindings(shortcuts: dict[str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """Review action -> key sequences; ValueError when a key is bound twice or is one of Slicer's own keys."""
    shortcuts = REVIEW_SHORTCUTS if shortcuts is None else shortcuts
    taken = {normalized_key(key): what for key, what in SLICER_SHORTCUTS.items()}
    seen: dict[str, str] = {}
    for action, keys in shortcuts.items():
        for key in keys:
            norm = normalized_key(key)
            if norm in taken:
                raise ValueError(f"key {key} of {action} is Slicer's: {taken[norm]}")
            if norm in seen:
                raise ValueError(f"key {key} is bound to both {seen[norm]} and {action}")
            seen[norm] = action
    return {action: list(keys) for action, keys in shortcuts.items()}


def shortcut_help() -> str:
    """The module help's keyboard line: ``"Ctrl+PgDown: next case; ..."``."""
    return "; ".join(f"{' or '.join(keys)}: {SHORTCUT_HELP[action]}" for action, keys in REVIEW_SHORTCUTS.items())
