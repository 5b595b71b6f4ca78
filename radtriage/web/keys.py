"""Keyboard shortcuts of the web station: which key does what, and what a digit means for a label control.

Pure functions over plain values (no trame, no MRML), shared by the app and its tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TYPE_AHEAD_S = 0.8
"""How long a first digit waits for a second one on a control with more than nine options."""

SHORTCUTS: dict[str, str] = {
    "ArrowRight": "next",
    "PageDown": "next",
    "ArrowLeft": "previous",
    "PageUp": "previous",
    "r": "run",
    "j": "focus_next",
    "k": "focus_previous",
    "o": "toggle_overlay",
    "u": "undo",
    "Enter": "enter",
}
"""Key (``KeyboardEvent.key``) -> action. Digits 0-9 set the focused label control (see :func:`value_for_digit`)."""

SHORTCUT_HELP: tuple[tuple[str, str], ...] = (
    ("→ / PageDown", "next case"),
    ("← / PageUp", "previous case"),
    ("r", "run the case's task"),
    ("j / k", "focus next / previous label control"),
    ("1-9", "choose option N of the focused control and commit (rating: 0-9 = 0-90, shift+0 = 100)"),
    ("two digits", "option 10 and up when the control has more than 9 (1 then 7 = option 17; Enter: just the 1)"),
    ("o", "show / hide the overlay"),
    ("u", "undo my last commit on this case"),
    ("left-drag", "window / level (a slice view); wheel: scroll slices; right-drag: zoom; middle-drag: pan"),
    ("shift+click", "crosshair at that point in every view; every slice view moves through it"),
)


def action_for_key(key: str) -> tuple[str, int | None] | None:
    """``(action, digit)`` for a key: a named action from :data:`SHORTCUTS`, ``("digit", n)`` for 0-9, else None."""
    if len(key) == 1 and key.isdigit():
        return ("digit", int(key))
    if key == ")":  # shift+0 on a US keyboard: the top of a 0-100 rating
        return ("digit", 10)
    action = SHORTCUTS.get(key) or (SHORTCUTS.get(key.lower()) if len(key) == 1 else None)
    return (action, None) if action else None


def value_for_digit(control: Mapping[str, Any], digit: int) -> Any | None:
    """The value a digit gives the control (a state dict from :func:`radtriage.web.labels.control_state`).

    choice / region / cmb: option ``digit`` (1-based); multilabel: the current set with option ``digit`` toggled;
    rating: ``10 * digit`` within the control's range. None when the digit names no option.
    """
    kind = control.get("kind")
    choices: Sequence[str] = control.get("choices") or ()
    if kind == "rating":
        value = 10.0 * digit
        low = control.get("minimum")
        high = control.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            return None
        return value
    if not 1 <= digit <= len(choices):
        return None
    option = choices[digit - 1]
    if kind == "multilabel":
        current = list(control.get("current") or [])
        return [c for c in current if c != option] if option in current else [*current, option]
    return option


@dataclass
class TypeAhead:
    """Digits to option numbers on a control with ``n`` options: one digit when ``n`` <= 9; above, a digit that
    could start a two-digit number waits up to ``timeout_s`` for the second (``1`` then ``7`` = 17) and
    :meth:`flush` (Enter, or the timer) applies it alone."""

    timeout_s: float = TYPE_AHEAD_S
    pending: int | None = None
    since: float = 0.0

    def feed(self, digit: int, n: int, now: float) -> int | None:
        """The option number to apply now, or None while a first digit waits for its second."""
        if self.pending is not None and now - self.since <= self.timeout_s:
            first, self.pending = self.pending, None
            return 10 * first + digit
        self.pending = None
        if n <= 9 or digit == 0 or 10 * digit > n:
            return digit
        self.pending, self.since = digit, now
        return None

    def flush(self) -> int | None:
        """The waiting digit on its own (None when none waits)."""
        digit, self.pending = self.pending, None
        return digit
