"""Abstention by design (bundle metadata ``radtriage.output_requirements``): each output of the brain triage model
needs certain contrasts; without them the output is "not assessable" (with the reason) — no probability, no
decision, never critical.

A bundle declares what each output needs in its metadata, ``radtriage.output_requirements``:
``{"acute_infarct": ["DWI", "ADC"], ...}`` — the output is assessable when ANY of the listed contrasts is in the
study. A bundle without the section gets :data:`DEFAULT_REQUIREMENTS` (acute infarct: DWI or ADC; acute
haemorrhage: SWI/T2*-GRE; mass effect and abnormal: any structural contrast).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NOT_ASSESSABLE = "not assessable"
STRUCTURAL = ("T1", "T1post", "T2", "FLAIR")
DEFAULT_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "abnormal": STRUCTURAL,
    "acute_infarct": ("DWI", "ADC"),
    "acute_haemorrhage": ("SWI",),
    "mass_effect": STRUCTURAL,
}
"""Contrasts (any of) each output needs; ``SWI`` is the channel of SWI and T2*-weighted GRE."""
REQUIREMENTS_KEY = "output_requirements"


def check_requirements(section: Any, class_names: Sequence[str], contrasts: Sequence[str]) -> str | None:
    """Why a bundle's ``output_requirements`` section is invalid (None when valid)."""
    if not isinstance(section, Mapping):
        return f"radtriage.{REQUIREMENTS_KEY} must map each output to the contrasts it needs"
    for name, needs in section.items():
        if name not in class_names:
            return f"radtriage.{REQUIREMENTS_KEY} names {name!r}, not one of the outputs {list(class_names)}"
        if not (isinstance(needs, list) and needs and all(isinstance(c, str) and c in contrasts for c in needs)):
            return (f"radtriage.{REQUIREMENTS_KEY}.{name} must be a non-empty list of the bundle's contrasts "
                    f"{list(contrasts)}, got {needs!r}")
    return None


def output_requirements(section: Mapping[str, Any] | None, outputs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The contrasts each output needs: the bundle's declaration, else the default (outputs without either need
    nothing beyond a usable study)."""
    declared = dict(section or {})
    return {name: tuple(declared.get(name) or DEFAULT_REQUIREMENTS.get(name, ())) for name in outputs}


def unassessable(requirements: Mapping[str, Sequence[str]], available: Iterable[str]) -> dict[str, str]:
    """{output: reason} for every output none of whose needed contrasts is in ``available``."""
    have = set(available)
    out = {}
    for name, needs in requirements.items():
        if needs and not have.intersection(needs):
            given = ", ".join(sorted(have)) or "none"
            out[name] = f"needs {' or '.join(needs)}; the study has {given}"
    return out


def probability_text(finding: Mapping[str, Any], digits: int = 3) -> str:
    """A finding's probability as text, or "not assessable"."""
    p = finding.get("probability")
    return NOT_ASSESSABLE if p is None else f"{float(p):.{digits}f}"


def decision_text(finding: Mapping[str, Any]) -> str:
    """``positive``, ``negative`` or ``not assessable (reason)``."""
    if finding.get("decision") is None:
        reason = finding.get("reason")
        return f"{NOT_ASSESSABLE} ({reason})" if reason else NOT_ASSESSABLE
    return "positive" if finding["decision"] else "negative"
