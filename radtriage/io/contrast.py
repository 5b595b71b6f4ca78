"""MR contrast classification: which of the model's 8 channels an image is, from DICOM tags or a name.

Evidence is gathered as scored rules (sequence physics from TE/TR/TI/flip angle,
scanning sequence, b-values, image type, contrast agent, series description,
protocol and sequence names) and combined per *family* (T1 with T1post, DWI with
ADC, then T2, FLAIR, SWI, other). The best family wins; a post-contrast or
pre-contrast hint picks T1 vs T1post, and an ADC/trace hint picks ADC vs DWI.
Confidence grows with the amount of evidence for the winner and shrinks with
evidence for anything else, which the explanation lists as conflicting.

Images that must not feed any channel (non-MR, phase, localizers, parametric
maps such as FA, BOLD/perfusion EPI, no evidence at all) are returned as
``Contrast.OTHER`` with ``usable=False``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from radtriage.errors import InputError
from radtriage.io.tags import tag_text

logger = logging.getLogger(__name__)


class Contrast(str, Enum):
    """The MR contrasts the brain model takes as channels (SWI also covers T2*-weighted GRE)."""

    T1 = "T1"
    T1_POST = "T1post"
    T2 = "T2"
    FLAIR = "FLAIR"
    DWI = "DWI"
    ADC = "ADC"
    SWI = "SWI"
    OTHER = "other"


CONTRAST_ORDER: tuple[Contrast, ...] = tuple(Contrast)
"""The 8 model channels in channel order (the same as ``radtriage.labelsets.MR_CONTRASTS``)."""

SOURCES = ("dicom", "name", "user")

NAME_CONFIDENCE_SCALE = 0.8
"""Name-only guesses are scaled down: a name is a human label, not an acquisition fact."""

MAX_AUTOMATIC_CONFIDENCE = 0.99
"""Only a user override is certain (1.0)."""

CONFLICT_NOTE_RATIO = 0.25
"""Evidence for another family above this fraction of the winner's is reported as conflicting."""

# Internal evidence keys beyond the contrasts: families and modifiers.
_POST, _PRE, _PHASE, _MAGNITUDE, _SWI_PROCESSED = "post", "pre", "phase", "magnitude", "swi_processed"
_DIFFUSION, _UNUSABLE = "diffusion", "unusable"
_FAMILIES: dict[str, tuple[str, ...]] = {
    "T1": ("T1", "T1post"),
    "diffusion": ("DWI", "ADC", _DIFFUSION),
    "T2": ("T2",),
    "FLAIR": ("FLAIR",),
    "SWI": ("SWI",),
    "other": ("other",),
    _UNUSABLE: (_UNUSABLE,),
}
_MODIFIERS = (_POST, _PRE, _PHASE, _MAGNITUDE, _SWI_PROCESSED)


@dataclass(frozen=True)
class ContrastGuess:
    """A contrast call with its confidence (0..1), the evidence used, and where it came from."""

    contrast: Contrast
    confidence: float
    explanation: str
    source: str
    usable: bool = True
    """False when the image should feed no model channel (non-MR, phase, localizer, map, no evidence)."""
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "contrast": self.contrast.value,
            "confidence": round(float(self.confidence), 3),
            "explanation": self.explanation,
            "source": self.source,
            "usable": self.usable,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class _Evidence:
    key: str
    weight: float
    note: str


# ----------------------------------------------------------------- text rules
# (token pattern matched against whole tokens, evidence key, weight, label). First match per token wins.
_TOKEN_RULES: tuple[tuple[str, str, float, str], ...] = (
    (r"localiz\w*|localis\w*|loc|scout|survey|pilot|3plane|aahead\w*", _UNUSABLE, 4.0, "localizer"),
    (r"fa|colfa|tensor|eadc|expadc|t1map|t2map|t2starmap|r2star|r2s|qsm|cbf|cbv|mtt|ttp|moco", _UNUSABLE, 3.0,
     "parametric map"),
    (r"bold|fmri|rest|resting|perf|perfusion|dsc|asl|pcasl|pwi|dce", _UNUSABLE, 3.0, "BOLD/perfusion series"),
    (r"fieldmap|fmap|field|b0map|mapping", _UNUSABLE, 3.0, "field map"),
    (r"phase|pha|ph|phs", _PHASE, 3.0, "phase image"),
    (r"mag|magn|magnitude", _MAGNITUDE, 1.0, "magnitude image"),
    (r"t1flair|flairt1", "T1", 2.5, "T1-FLAIR"),
    (r"t2flair|flairt2|flair|tirm|darkfluid", "FLAIR", 2.5, "FLAIR"),
    (r"t1(c|ce|gd|gad|post|postgad|km|plus|cplus|wce|wc|wpost|wgd)", "T1post", 2.5, "post-contrast T1"),
    (r"t2star\w*|t2s|t2ffe|medic|merge|gret2star", "SWI", 2.5, "T2*-weighted GRE"),
    (r"swi\w*|swan|venobold|susc\w*|minip|mnip", "SWI", 3.0, "SWI"),
    (r"hemo\w*|haemo\w*|hemosiderin|bleed", "SWI", 2.0, "haemorrhage-sensitive GRE"),
    (r"sw", "SWI", 2.0, "SWI (Siemens '(SW)')"),
    (r"gre|megre|me3d\w*|me2d\w*|fl2d\w*", "SWI", 1.0, "gradient echo (often T2*)"),
    (r"(3d)?t1(w|wi|wt|weighted|se|tse|fse|ffe|tfe|fs|fl|fl2d|fl3d|spc|space|ir|mpr|pre|sag|tra|cor|ax)?\d*",
     "T1", 2.5, "T1"),
    (r"mprage|mp2rage|uni|spgr|fspgr|irfspgr|bravo|t1tfe|tfe3d|vibe|lava|thrive|inplanet1", "T1", 2.0,
     "T1-weighted sequence"),
    (r"tfl\w*|fl3d\w*|flash|tfe", "T1", 1.0, "spoiled/turbo GRE (usually T1)"),
    (r"(3d)?t2(w|wi|wt|weighted|se|tse|fse|spc|space|fs|blade|haste|tra|sag|cor|ax)?\d*", "T2", 2.5, "T2"),
    (r"haste|ssfse|sshtse", "T2", 2.0, "single-shot T2 sequence"),
    (r"adc|adcmap", "ADC", 2.5, "ADC"),
    (r"dwi|dw|dwis|isodwi|trace|tracew|dmri|diffusionweighted", "DWI", 2.5, "DWI"),
    (r"b[1-9]\d{1,3}t?", "DWI", 2.0, "non-zero b-value"),
    (r"diff|diffusion|ep2d|dti|dki|hardi|resolve|b0", _DIFFUSION, 1.5, "diffusion acquisition"),
    (r"pd|pdw|pdfs|pdtse|pdspc|pd\d+", "other", 2.5, "proton density"),
    (r"stir|tof|tof3d|angio|mra|ssfp|trufi|truefisp|fiesta|bffe|cine", "other", 2.0, "other MR contrast"),
    (r"postcontrast|post|postgad|gad|gado|gadolinium|gd|contrast|km|omniscan|dotarem|gadavist|gadovist"
     r"|magnevist|multihance|prohance|clariscan|eovist|primovist|elucirem|vueway", _POST, 2.0, "post-contrast"),
    (r"pre|precontrast|nativ|native|noncontrast|plain", _PRE, 2.0, "pre-contrast"),
)
_COMPILED_TOKEN_RULES = tuple((re.compile(p), k, w, label) for p, k, w, label in _TOKEN_RULES)

# Phrases looked for in the whole lower-case text before it is split into tokens.
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"(?<![a-z])(?:w/o|wo|without|no|non|pre)[\s_-]*(?:contrast|gad\w*|gd|c)(?![a-z])", " precontrast "),
    (r"(?<![a-z])(?:w/|with|post)[\s_-]*(?:contrast|gad\w*|gd|c)(?![a-z])", " postcontrast "),
    (r"\+\s*(?:c|gd|gad)(?![a-z])|(?<![a-z0-9])c\s*\+", " postcontrast "),
    (r"t2\s*\*", " t2star "),
    (r"dark[\s_-]*fluid", " darkfluid "),
    (r"fluid[\s_-]*attenuated", " flair "),
    (r"apparent[\s_-]*diffusion", " adc "),
    (r"proton[\s_-]*density", " pd "),
    (r"min[\s_-]*ip", " minip "),
)

# BIDS suffixes (the last `_` part of a BIDS name) and what they mean.
_BIDS_SUFFIX: dict[str, tuple[str, str]] = {
    "t1w": ("T1", "BIDS suffix T1w"),
    "inplanet1": ("T1", "BIDS suffix inplaneT1"),
    "t2w": ("T2", "BIDS suffix T2w"),
    "inplanet2": ("T2", "BIDS suffix inplaneT2"),
    "flair": ("FLAIR", "BIDS suffix FLAIR"),
    "t2starw": ("SWI", "BIDS suffix T2starw"),
    "t2star": ("SWI", "BIDS suffix T2star"),
    "megre": ("SWI", "BIDS suffix MEGRE"),
    "swi": ("SWI", "BIDS suffix swi"),
    "dwi": ("DWI", "BIDS suffix dwi"),
    "adc": ("ADC", "BIDS-derivative suffix adc"),
    "pdw": ("other", "BIDS suffix PDw"),
    "pd": ("other", "BIDS suffix PD"),
    "angio": ("other", "BIDS suffix angio"),
    "bold": (_UNUSABLE, "BIDS suffix bold"),
    "asl": (_UNUSABLE, "BIDS suffix asl"),
    "t1map": (_UNUSABLE, "BIDS suffix T1map"),
    "t2map": (_UNUSABLE, "BIDS suffix T2map"),
    "phase": (_PHASE, "BIDS suffix phase"),
}
_BIDS_NAME = re.compile(r"(?:^|_)(?:sub|ses|acq|ce|rec|run|part|echo|dir|task)-[A-Za-z0-9]+")
_FILE_SUFFIX = re.compile(r"(\.nii\.gz|\.nii|\.nrrd|\.nhdr|\.mha|\.mhd|\.dcm|\.ima|\.img|\.hdr|\.mgz|\.gz)$", re.I)
_FILE_SUFFIX_IN_TEXT = re.compile(_FILE_SUFFIX.pattern[:-1] + r"(?=$|[\s/\\])", re.I)
_NO_AGENT = {"", "NONE", "NO", "N/A", "NA", "0", "-", "WITHOUT", "NIL"}


def _normalise(text: str) -> str:
    out = text.lower()
    for pattern, repl in _PHRASES:
        out = re.sub(pattern, repl, out)
    return out


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", _normalise(text)) if t]


def _text_evidence(texts: Iterable[tuple[str, str]], scale: float) -> list[_Evidence]:
    """Evidence from labelled texts (e.g. ``("SeriesDescription", "AX T2 FLAIR")``), one item per key.

    Several texts form one group: each evidence key counts once, at its best weight,
    so a protocol name repeating the series description does not double the evidence.
    """
    best: dict[str, tuple[float, list[str]]] = {}
    seen_tokens: set[str] = set()
    for label, text in texts:
        for tok in _tokens(text):
            if tok in seen_tokens:
                continue
            seen_tokens.add(tok)
            for pattern, key, weight, what in _COMPILED_TOKEN_RULES:
                if pattern.fullmatch(tok):
                    w, notes = best.get(key, (0.0, []))
                    best[key] = (max(w, weight), [*notes, f"{label} '{tok}' ({what})"])
                    break
    # 'T2 FLAIR' is FLAIR; 'T1 FLAIR' (GE) is a T1-weighted inversion recovery.
    if "FLAIR" in best and "T2" in best:
        best.pop("T2")
    elif "FLAIR" in best and "T1" in best:
        w, notes = best.pop("FLAIR")
        t1w, t1notes = best["T1"]
        best["T1"] = (max(w, t1w), [*t1notes, *notes, "T1 named with FLAIR: T1-FLAIR"])
    return [_Evidence(key, w * scale, "; ".join(notes)) for key, (w, notes) in best.items()]


def _bids_evidence(name: str) -> list[_Evidence]:
    """Evidence from BIDS entities (ce-, part-) and the BIDS suffix of one file name."""
    if not _BIDS_NAME.search(name):
        return []
    out: list[_Evidence] = []
    parts = name.split("_")
    suffix = parts[-1].lower()
    if suffix in _BIDS_SUFFIX:
        key, note = _BIDS_SUFFIX[suffix]
        out.append(_Evidence(key, 3.0, note))
    for part in parts[:-1]:
        key, _, value = part.partition("-")
        key, value = key.lower(), value.lower()
        if key == "ce":
            if value in ("none", "no", "pre", "native"):
                out.append(_Evidence(_PRE, 2.5, f"BIDS ce-{value}"))
            else:
                out.append(_Evidence(_POST, 3.0, f"BIDS ce-{value} (contrast agent)"))
        elif key == "part" and value == "phase":
            out.append(_Evidence(_PHASE, 3.5, "BIDS part-phase"))
        elif key == "part" and value == "mag":
            out.append(_Evidence(_MAGNITUDE, 1.0, "BIDS part-mag"))
    return out


# --------------------------------------------------------------- tag physics
def _number(tags: Mapping[str, Any], keyword: str) -> float | None:
    value = tags.get(keyword)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    try:
        number = float(str(value).split("\\")[0])
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


# ImageType values (any position) -> (evidence key, weight, what they mean).
_IMAGE_TYPE_RULES: tuple[tuple[frozenset[str], str, float, str], ...] = (
    (frozenset({"SWI"}), _SWI_PROCESSED, 0.0, "processed SWI"),
    (frozenset({"SWI"}), "SWI", 4.0, "SWI"),
    (frozenset({"MNIP", "MINIP", "MIN IP"}), _SWI_PROCESSED, 0.0, "minimum-intensity projection"),
    (frozenset({"MNIP", "MINIP", "MIN IP"}), "SWI", 3.0, "minimum-intensity projection"),
    (frozenset({"T2_STAR", "T2STAR", "T2*"}), "SWI", 3.0, "T2*-weighted"),
    (frozenset({"ADC"}), "ADC", 4.0, "ADC map"),
    (frozenset({"EADC", "EXP", "FA", "COLFA", "TENSOR", "TENSOR_B0", "T1_MAP", "T2_MAP", "R2STAR"}), _UNUSABLE, 3.5,
     "parametric map"),
    (frozenset({"TRACEW", "TRACE", "ISOTROPIC", "CALC_BVALUE"}), "DWI", 3.5, "diffusion-weighted trace"),
    (frozenset({"DIFFUSION"}), _DIFFUSION, 2.0, "diffusion"),
    (frozenset({"FLAIR", "FLUID_ATTENUATED"}), "FLAIR", 3.0, "FLAIR"),
    (frozenset({"T1"}), "T1", 3.0, "T1-weighted"),
    (frozenset({"T2"}), "T2", 3.0, "T2-weighted"),
    (frozenset({"PROTON_DENSITY", "PD"}), "other", 3.0, "proton density"),
    (frozenset({"STIR", "ANGIO", "TOF"}), "other", 2.5, "other MR contrast"),
    (frozenset({"LOCALIZER", "SCOUT"}), _UNUSABLE, 4.0, "localizer"),
    (frozenset({"FMRI", "PERFUSION", "MOCO"}), _UNUSABLE, 3.0, "time series (fMRI/perfusion)"),
)
_PROJECTION_FLAGS = frozenset({"PROJECTION IMAGE", "MIP"})


def _image_type_evidence(values: list[str]) -> list[_Evidence]:
    """Evidence from ImageType values (Siemens/GE/Philips flags and enhanced-MR image flavours)."""
    tokens = set(filter(None, values))
    ev = [_Evidence(key, weight, f"ImageType {'/'.join(sorted(tokens & flags))} ({what})")
          for flags, key, weight, what in _IMAGE_TYPE_RULES if tokens & flags]
    if tokens & _PROJECTION_FLAGS and not any(e.key == _SWI_PROCESSED for e in ev):
        ev.append(_Evidence(_UNUSABLE, 4.0, "ImageType projection image (MIP)"))
    # 'P'/'M' are meaningful from the third value on (Siemens: ORIGINAL\PRIMARY\P\ND; Philips: ...\P_FFE).
    later = values[2:]
    if any(v in ("P", "PHASE", "PHASE_MAP") or v.startswith("P_") for v in later):
        ev.append(_Evidence(_PHASE, 4.0, "ImageType marks a phase image"))
    if any(v in ("M", "MAGNITUDE") or v.startswith("M_") for v in later):
        ev.append(_Evidence(_MAGNITUDE, 1.0, "ImageType marks a magnitude image"))
    return ev


def _physics_evidence(tags: Mapping[str, Any]) -> list[_Evidence]:
    """Evidence from scanning sequence, TE/TR/TI, flip angle and b-value."""
    ev: list[_Evidence] = []
    seq = set(filter(None, tag_text(tags, "ScanningSequence").split("\\")))
    variant = set(filter(None, tag_text(tags, "SequenceVariant").split("\\")))
    options = set(filter(None, tag_text(tags, "ScanOptions").split("\\")))
    seq_name = (tag_text(tags, "SequenceName") + " " + tag_text(tags, "PulseSequenceName")).lower()
    te, tr = _number(tags, "EchoTime"), _number(tags, "RepetitionTime")
    ti, fa = _number(tags, "InversionTime"), _number(tags, "FlipAngle")
    bval = _number(tags, "DiffusionBValue")
    b_from_name = re.search(r"(?:^|[^a-z])ep_b(\d+)(_\d+)?", seq_name)
    if b_from_name and b_from_name.group(2):
        ev.append(_Evidence(_DIFFUSION, 2.0, f"sequence name '{b_from_name.group(0).strip('*_ ')}' lists several "
                                             "b-values (a map computed from a diffusion series)"))
    elif bval is None and b_from_name:
        bval = float(b_from_name.group(1))
    ir = "IR" in seq or any(o == "IR" or o.startswith("IR_") for o in options) or bool(
        re.search(r"(?:^|[^a-z])(?:tir|spcir)", seq_name))
    if not ir and ti is not None and ti > 0:
        ir = True
    ep = "EP" in seq or bool(re.search(r"(?:^|[^a-z])ep(?:_|fid|se|2d|3d)", seq_name))
    gr = "GR" in seq
    se = "SE" in seq
    known_seq = bool(seq & {"SE", "GR", "IR", "EP"})
    physics = f"{'/'.join(sorted(seq)) or 'sequence ?'} TE {_fmt(te)} TR {_fmt(tr)}"

    if bval is not None and not ep:
        if bval >= 50:
            ev.append(_Evidence("DWI", 3.0, f"b-value {bval:g} s/mm²"))
        else:
            ev.append(_Evidence(_DIFFUSION, 1.0, f"b-value {bval:g} s/mm² (b≈0)"))
        return ev  # diffusion-weighted: TE/TR say nothing more about T1/T2 weighting
    if ep:
        if bval is not None and bval >= 50:
            ev.append(_Evidence("DWI", 3.5, f"EPI with b-value {bval:g} s/mm²"))
        elif bval is not None:
            ev.append(_Evidence("DWI", 1.5, f"EPI with b-value {bval:g} s/mm² (b≈0 reference of a diffusion series)"))
        elif gr or "fid" in seq_name:
            ev.append(_Evidence(_UNUSABLE, 2.0, f"gradient-echo EPI without b-value ({physics}): BOLD/perfusion"))
        elif se:
            ev.append(_Evidence(_DIFFUSION, 1.0, "spin-echo EPI without b-value (usually diffusion)"))
        return ev  # EPI TE/TR say nothing more about T1/T2 weighting here
    if ir:
        ti_text = f"IR with TI {_fmt(ti)} ms, TE {_fmt(te)} ms"
        if ti is not None and ti >= 1500:
            if te is not None and te >= 60:
                ev.append(_Evidence("FLAIR", 3.5, f"{ti_text}: long TI nulls fluid, long TE (FLAIR)"))
            else:
                ev.append(_Evidence("FLAIR", 1.5, f"{ti_text}: long TI but TE short or missing (weak FLAIR)"))
        elif ti is not None:
            if te is not None and te < 30:
                ev.append(_Evidence("T1", 3.0, f"{ti_text}: short TI < 1500 ms and short TE "
                                              "(T1-weighted IR: MPRAGE/IR-SPGR/T1-FLAIR/LGE)"))
            elif te is not None and te >= 40 and ti < 400:
                ev.append(_Evidence("other", 2.0, f"{ti_text}: very short TI with long TE (STIR)"))
            else:
                ev.append(_Evidence("T1", 0.5, f"{ti_text}: intermediate TI/TE, weakly T1"))
        elif te is not None and te >= 60:
            ev.append(_Evidence("FLAIR", 1.0, f"IR without InversionTime, long TE {te:g} ms (FLAIR or STIR)"))
        elif te is not None:
            ev.append(_Evidence("T1", 1.5, f"IR without InversionTime, short TE {te:g} ms (T1-weighted IR)"))
        return ev
    if gr:
        fa_text = f"flip angle {_fmt(fa)}°"
        if te is not None and te >= 15:
            if fa is None or fa <= 35:
                ev.append(_Evidence("SWI", 3.0 if fa is not None else 2.0,
                                    f"GRE with long TE {te:g} ms and low {fa_text}: T2*/SWI"))
            else:
                ev.append(_Evidence("SWI", 1.5, f"GRE with long TE {te:g} ms but high {fa_text}: weakly T2*"))
        elif te is not None and te < 10:
            spoiled = "SP" in variant
            if fa is None or fa >= 8:
                ev.append(_Evidence("T1", 2.5, f"GRE with short TE {te:g} ms, TR {_fmt(tr)} ms, {fa_text}"
                                               f"{' (spoiled)' if spoiled else ''}: T1-weighted"))
            else:
                ev.append(_Evidence("T1", 1.0, f"GRE with short TE {te:g} ms and very low {fa_text}: weakly T1"))
        elif te is not None:
            ev.append(_Evidence("SWI", 1.0, f"GRE with intermediate TE {te:g} ms: weakly T2*"))
        return ev
    if te is None or tr is None:
        return ev
    scale = 1.0 if (se or known_seq) else 0.7
    where = "" if scale == 1.0 else " (sequence type not given)"
    if tr < 1000 and te < 30:
        ev.append(_Evidence("T1", 3.0 * scale, f"spin echo short TR {tr:g} / short TE {te:g} ms: T1-weighted{where}"))
    elif tr >= 2000 and te >= 70:
        ev.append(_Evidence("T2", 3.0 * scale, f"spin echo long TR {tr:g} / long TE {te:g} ms: T2-weighted{where}"))
    elif tr >= 1500 and te < 40:
        ev.append(_Evidence("other", 2.5 * scale, f"spin echo long TR {tr:g} / short TE {te:g} ms: proton density"
                                                  f"{where}"))
    elif tr >= 1200 and te >= 60:
        ev.append(_Evidence("T2", 1.5 * scale, f"spin echo TR {tr:g} / TE {te:g} ms: weakly T2-weighted{where}"))
    return ev


def _agent_evidence(tags: Mapping[str, Any]) -> list[_Evidence]:
    if "ContrastBolusAgent" not in tags:
        return []
    agent = str(tags.get("ContrastBolusAgent") or "").strip()
    if agent.upper() in _NO_AGENT:
        return [_Evidence(_PRE, 1.0, f"ContrastBolusAgent '{agent}' (none given)")]
    return [_Evidence(_POST, 3.0, f"ContrastBolusAgent '{agent}'")]


# ------------------------------------------------------------------ combining
def _confidence(top: float, rest: float) -> float:
    """More evidence for the winner raises confidence; evidence for anything else lowers it."""
    if top <= 0:
        return 0.0
    return (1.0 - math.exp(-top / 2.5)) * top / (top + rest)


def _decide(evidence: list[_Evidence], source: str, scale: float = 1.0) -> ContrastGuess:
    """Combine evidence into one guess (see the module docstring)."""
    notes = tuple(f"{e.note} -> {e.key} (+{e.weight:.1f})" for e in evidence if e.weight > 0 or e.key in _MODIFIERS)
    by_key: dict[str, float] = {}
    for e in evidence:
        by_key[e.key] = by_key.get(e.key, 0.0) + e.weight

    def described(keys: Iterable[str]) -> str:
        keys = set(keys)
        return "; ".join(e.note for e in evidence if e.key in keys and e.weight > 0)

    # Phase images are not magnitude images and feed no channel, unless SWI-processed.
    phase = by_key.get(_PHASE, 0.0)
    if phase > 0 and _SWI_PROCESSED not in by_key and phase > by_key.get(_MAGNITUDE, 0.0):
        conf = round(min(0.95, _confidence(phase + 1.0, by_key.get(_MAGNITUDE, 0.0))) * scale, 3)
        return ContrastGuess(Contrast.OTHER, conf, f"other, not usable (confidence {conf:.2f}, {source}): phase "
                             f"image, not usable as magnitude ({described([_PHASE])})", source, False, notes)

    families = {fam: sum(by_key.get(k, 0.0) for k in keys) for fam, keys in _FAMILIES.items()}
    post, pre = by_key.get(_POST, 0.0), by_key.get(_PRE, 0.0)
    extra: list[str] = []
    if all(v <= 0 for v in families.values()) and (post > 0 or pre > 0):
        families["T1"] = max(post, pre) * 0.6
        extra.append("only a pre/post-contrast hint: such series are usually T1-weighted")
    ranked = sorted(families.items(), key=lambda kv: kv[1], reverse=True)
    top_family, top = ranked[0]
    if top <= 0:
        return ContrastGuess(Contrast.OTHER, 0.0, f"other, not usable (confidence 0.00, {source}): no evidence for "
                             "any contrast", source, False, notes)
    rest = sum(v for _, v in ranked[1:])
    conf = _confidence(top, rest)

    usable = top_family != _UNUSABLE
    if top_family == "T1":
        post_total = post + by_key.get("T1post", 0.0)
        contrast = Contrast.T1_POST if post_total > pre else Contrast.T1
        if post_total > 0 and pre > 0:
            conf *= 0.75
            extra.append(f"conflicting pre/post-contrast evidence (post: {described([_POST, 'T1post'])}; "
                         f"pre: {described([_PRE])})")
        elif contrast is Contrast.T1_POST and post > 0 and not extra:
            extra.append(f"post-contrast: {described([_POST])}")
    elif top_family == "diffusion":
        adc, dwi = by_key.get("ADC", 0.0), by_key.get("DWI", 0.0)
        contrast = Contrast.ADC if adc > 0 and adc >= dwi else Contrast.DWI
        if adc > 0 and dwi > 0 and min(adc, dwi) >= 0.5 * max(adc, dwi):
            conf *= 0.85
            extra.append(f"both ADC ({described(['ADC'])}) and DWI ({described(['DWI'])}) evidence")
    elif top_family == _UNUSABLE:
        contrast = Contrast.OTHER
    else:
        contrast = Contrast(top_family)
        if post > 0:
            extra.append(f"post-contrast {contrast.value} ({described([_POST])}), kept as {contrast.value}")
    conf = round(min(conf * scale, MAX_AUTOMATIC_CONFIDENCE), 3)

    label = "other, not usable" if not usable else contrast.value
    support = described(_FAMILIES[top_family]) or described([_POST, _PRE])
    parts = [f"{label} (confidence {conf:.2f}, {source}): {support}"]
    conflicts = [(fam, v) for fam, v in ranked[1:] if v > 0 and v >= CONFLICT_NOTE_RATIO * top]
    if conflicts:
        parts.append("conflicting evidence: " + "; ".join(
            f"{'not usable' if fam == _UNUSABLE else fam} ({described(_FAMILIES[fam])})" for fam, _ in conflicts))
    parts.extend(extra)
    return ContrastGuess(contrast, conf, " | ".join(parts), source, usable, notes)


# ------------------------------------------------------------------ public API
def classify_tags(tags: Mapping[str, Any]) -> ContrastGuess:
    """Classify from DICOM tags (``Image.metadata['dicom_tags']`` / ``radtriage.io.tags.extract_tags``)."""
    if not tags:
        return ContrastGuess(Contrast.OTHER, 0.0, "other, not usable (confidence 0.00, dicom): no DICOM tags",
                             "dicom", False)
    modality = tag_text(tags, "Modality")
    if modality and modality != "MR":
        return ContrastGuess(Contrast.OTHER, 0.95, f"other, not usable (confidence 0.95, dicom): Modality "
                             f"{modality} is not MR, so no MR contrast applies", "dicom", False,
                             (f"Modality {modality}",))
    evidence = _image_type_evidence([t.strip() for t in tag_text(tags, "ImageType").split("\\")])
    evidence += _physics_evidence(tags)
    evidence += _agent_evidence(tags)
    evidence += _text_evidence(
        [(kw, str(tags[kw])) for kw in ("SeriesDescription", "ProtocolName") if tags.get(kw)], scale=1.0)
    evidence += _text_evidence(
        [(kw, str(tags[kw])) for kw in ("SequenceName", "PulseSequenceName") if tags.get(kw)], scale=0.8)
    guess = _decide(evidence, "dicom")
    if not modality:
        guess = _with_note(guess, "Modality missing, assumed MR")
    logger.debug("contrast from tags: %s", guess.explanation)
    return guess


def classify_name(text: str) -> ContrastGuess:
    """Classify from a file or series name (e.g. ``stroke_FLAIR.nii.gz``, ``sub-01_ce-gad_T1w``).

    Confidence is scaled by ``NAME_CONFIDENCE_SCALE``: a name is weaker evidence
    than acquisition tags.
    """
    text = _FILE_SUFFIX_IN_TEXT.sub("", str(text or "").strip())
    evidence = _text_evidence([("name", text)], scale=1.0)
    label = Path(text).name.lower() if text else ""
    exact = [c for c in Contrast if label in (c.value.lower(), c.name.lower())]
    if exact and not any(e.key == exact[0].value for e in evidence):
        evidence.append(_Evidence(exact[0].value, 2.5, f"name is the channel label '{exact[0].value}'"))
    for chunk in re.split(r"[\s/\\]+", text):
        evidence += _bids_evidence(chunk)
    guess = _decide(evidence, "name", scale=NAME_CONFIDENCE_SCALE)
    logger.debug("contrast from name: %s", guess.explanation)
    return guess


def _with_note(guess: ContrastGuess, note: str) -> ContrastGuess:
    return ContrastGuess(guess.contrast, guess.confidence, f"{guess.explanation} | {note}", guess.source,
                         guess.usable, guess.evidence)


def _image_names(metadata: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("contrast", "description", "series_description"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            names.append(value.strip())
    source = metadata.get("source_path")
    if source:
        names.append(_FILE_SUFFIX.sub("", Path(str(source)).name))
    unique: list[str] = []
    for n in names:
        if n not in unique:
            unique.append(n)
    return unique


def classify_image(image: Any) -> ContrastGuess:
    """Classify an ``Image``: DICOM tags when present, else its declared contrast, description or file name."""
    metadata: Mapping[str, Any] = getattr(image, "metadata", None) or {}
    tags = metadata.get("dicom_tags")
    names = _image_names(metadata)
    if tags:
        guess = classify_tags(tags)
        if guess.confidence > 0 or not names:
            return guess
        name_guess = classify_name(" ".join(names))
        return _with_note(name_guess, "DICOM tags gave no evidence, the name was used")
    label = metadata.get("contrast")
    if isinstance(label, str) and label in {c.value for c in Contrast}:
        conf = NAME_CONFIDENCE_SCALE
        return ContrastGuess(Contrast(label), conf, f"{label} (confidence {conf:.2f}, name): contrast label "
                             f"'{label}' declared in the image metadata", "name", True, (f"metadata contrast {label}",))
    modality = str(metadata.get("modality", "") or "").upper()
    if modality and modality != "MR":
        return ContrastGuess(Contrast.OTHER, 0.95, f"other, not usable (confidence 0.95, name): modality {modality} "
                             "is not MR", "name", False, (f"modality {modality}",))
    if not names:
        return ContrastGuess(Contrast.OTHER, 0.0, "other, not usable (confidence 0.00, name): no DICOM tags, "
                             "description or file name to classify", "name", False)
    return classify_name(" ".join(names))


_ALIASES: dict[str, Contrast] = {
    "t1w": Contrast.T1, "t1pre": Contrast.T1, "t1c": Contrast.T1_POST, "t1ce": Contrast.T1_POST,
    "t1gd": Contrast.T1_POST, "t1+c": Contrast.T1_POST, "t1_post": Contrast.T1_POST, "t1 post": Contrast.T1_POST,
    "t2w": Contrast.T2, "t2flair": Contrast.FLAIR, "dw": Contrast.DWI, "trace": Contrast.DWI,
    "t2*": Contrast.SWI, "t2star": Contrast.SWI, "gre": Contrast.SWI, "pd": Contrast.OTHER,
}


def parse_contrast(value: str | Contrast) -> Contrast:
    """A ``Contrast`` from its value or name, case-insensitive, or a common alias (``t1c``, ``t2*``...)."""
    if isinstance(value, Contrast):
        return value
    text = str(value).strip().lower()
    for c in Contrast:
        if text in (c.value.lower(), c.name.lower()):
            return c
    if text in _ALIASES:
        return _ALIASES[text]
    raise ValueError(f"unknown contrast {value!r}; expected one of {', '.join(c.value for c in CONTRAST_ORDER)}")


@dataclass
class ContrastAssignment(Mapping[str, ContrastGuess]):
    """A contrast guess per input (also readable as a mapping input key -> guess), one input picked per contrast."""

    guesses: dict[str, ContrastGuess] = field(default_factory=dict)

    def __getitem__(self, key: str) -> ContrastGuess:
        return self.guesses[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.guesses)

    def __len__(self) -> int:
        return len(self.guesses)

    def _candidates(self, min_confidence: float) -> dict[Contrast, list[str]]:
        out: dict[Contrast, list[str]] = {}
        for key, guess in self.guesses.items():
            if guess.usable and guess.confidence > 0 and guess.confidence >= min_confidence:
                out.setdefault(guess.contrast, []).append(key)
        for keys in out.values():
            keys.sort(key=lambda k: -self.guesses[k].confidence)  # stable: input order breaks ties
        return out

    def by_contrast(self, min_confidence: float = 0.0) -> dict[Contrast, str]:
        """The input picked for each contrast that has one: the highest confidence (first input on ties)."""
        picked = {c: keys[0] for c, keys in self._candidates(min_confidence).items()}
        return {c: picked[c] for c in CONTRAST_ORDER if c in picked}

    def duplicates(self, min_confidence: float = 0.0) -> dict[Contrast, list[str]]:
        """Inputs classified as a contrast that another input fills (not picked)."""
        return {c: keys[1:] for c, keys in self._candidates(min_confidence).items() if len(keys) > 1}

    def missing(self, min_confidence: float = 0.0) -> list[Contrast]:
        """Contrasts of ``CONTRAST_ORDER`` with no usable input."""
        picked = self.by_contrast(min_confidence)
        return [c for c in CONTRAST_ORDER if c not in picked]

    def unusable(self) -> list[str]:
        """Inputs that feed no channel (non-MR, phase, localizer, maps, no evidence)."""
        return [k for k, g in self.guesses.items() if not g.usable or g.confidence <= 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary for reports."""
        return {
            "inputs": {k: g.to_dict() for k, g in self.guesses.items()},
            "by_contrast": {c.value: k for c, k in self.by_contrast().items()},
            "duplicates": {c.value: ks for c, ks in self.duplicates().items()},
            "missing": [c.value for c in self.missing()],
            "unusable": self.unusable(),
        }


def assign_contrasts(images: Mapping[str, Any],
                     overrides: Mapping[str, str | Contrast] | None = None) -> ContrastAssignment:
    """Classify every input; a user override for a key wins (source 'user', confidence 1.0).

    Raises ``InputError`` for an override naming an unknown input or an unknown contrast.
    """
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in images:
            raise InputError(key, f"contrast override for an input that is not loaded (inputs: {', '.join(images)})")
    guesses: dict[str, ContrastGuess] = {}
    for key, image in images.items():
        if key in overrides:
            try:
                contrast = parse_contrast(overrides[key])
            except ValueError as exc:
                raise InputError(key, f"bad contrast override: {exc}") from exc
            auto = classify_image(image)
            guesses[key] = ContrastGuess(
                contrast, 1.0, f"{contrast.value} (confidence 1.00, user): overridden by the user "
                f"(automatic guess was {auto.contrast.value} at {auto.confidence:.2f})", "user", True,
                (f"user override {contrast.value}",))
        else:
            guesses[key] = classify_image(image)
    assignment = ContrastAssignment(guesses)
    for contrast, keys in assignment.duplicates().items():
        logger.info("%d more inputs classified %s than used: %s", len(keys), contrast.value, ", ".join(keys))
    return assignment
