"""``radtriage triage DIR``: rank every brain MRI study in a folder by urgency; CSV/JSON worklist + reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radtriage.commands.common import parse_options
from radtriage.errors import RadTriageError
from radtriage.tasks.mri_triage.model import TriageModel
from radtriage.tasks.mri_triage.worklist import WORKLIST_CSV, triage_folder


def _contrast_pairs(values: list[str] | None) -> dict[str, str]:
    out = {}
    for value in values or ():
        key, sep, contrast = value.partition("=")
        if not sep or not key or not contrast:
            raise RadTriageError(f"--contrast {value!r} must look like INPUT_NAME=CONTRAST (e.g. scan3=FLAIR)")
        out[key] = contrast
    return out


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``radtriage triage DIR``."""
    parser.add_argument("folder", help="folder of studies: one sub-folder per study (DICOM and/or volume files), "
                                       "or volume files (one study each)")
    parser.add_argument("--output", "-o", help="where the worklist and reports go (default: DIR/triage)")
    parser.add_argument("--bundle", help="bundle name or folder (default: the newest mri_triage bundle)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--contrast", action="append", metavar="INPUT=CONTRAST",
                        help="override the contrast of inputs with this name in every study (repeatable)")
    parser.add_argument("--register", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--option", action="append", metavar="KEY=VALUE",
                        help="mri_triage option for every study (see radtriage options mri_triage), repeatable")
    parser.add_argument("--save-results", action="store_true",
                        help="also write results/<study>/result.json and the heatmap volumes")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``radtriage triage`` from parsed ``args``; prints the ranked worklist. Exit code 1 when any study
    could not be triaged (each is in the worklist as ``failed`` with its reason)."""
    from radtriage.tasks.options import validate_options

    out = Path(args.output) if getattr(args, "output", None) else Path(args.folder) / "triage"
    given = validate_options("mri_triage", parse_options(getattr(args, "option", None)))
    options = {"register": args.register, **given}
    for name in ("heatmaps", "contrasts"):
        if name in options:
            raise RadTriageError(f"--option {name} is set by --save-results / --contrast in triage")
    operating_point = options.pop("operating_point", None)
    model = TriageModel.from_bundle(args.bundle, args.device, operating_point) if operating_point else None
    entries = triage_folder(args.folder, out, bundle=args.bundle, device=args.device,
                            contrasts=_contrast_pairs(args.contrast), save_results=args.save_results, model=model,
                            **options)
    for e in entries:
        p_abnormal = None if e.result is None else e.result.outputs["urgency"]["abnormal_probability"]
        p = "" if e.result is None else ("P(abnormal) not assessable" if p_abnormal is None
                                         else f"P(abnormal)={p_abnormal:.3f}")
        crit = "" if e.result is None else ",".join(e.result.outputs["urgency"]["critical_findings"])
        print(f"{e.rank:>3}  {e.status:<8}  {e.study}  {p}  {crit}")
    print(f"worklist: {out / WORKLIST_CSV}")
    failed = [e for e in entries if e.result is None]
    if failed:
        print(f"radtriage: {len(failed)} of {len(entries)} studies could not be triaged (status 'failed' in the "
              f"worklist): " + "; ".join(f"{e.study}: {e.error}" for e in failed), file=sys.stderr)
        return 1
    return 0
