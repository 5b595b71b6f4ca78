"""``radtriage export``: export labelled cases as a cohort: NIfTI, CSV/JSON, MONAI datalist, datasheet."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from radtriage.export.consensus import RULES
from radtriage.export.deid import DATE_MODES


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``radtriage export`` options to ``parser`` (a subparser); returns it."""
    p = parser
    p.add_argument("store", help="annotation store: project folder, .sqlite file or postgresql:// DSN")
    p.add_argument("--schema", required=True, help="label schema to export, e.g. mri_normal_abnormal")
    p.add_argument("--out", required=True, type=Path, help="new or empty export folder")
    p.add_argument("--cases", help="case list (CSV, folder or DICOM folder) choosing the cases; default: all labelled")
    p.add_argument("--case-ids", nargs="+", metavar="ID", help="the cases to export, by id")
    p.add_argument("--readers", nargs="+", metavar="ID", help="only these readers' labels")
    p.add_argument("--consensus", choices=RULES, default="majority", help="how disagreeing readers are combined")
    p.add_argument("--adjudicator", metavar="READER", help="reader whose label decides a majority tie")
    p.add_argument("--min-readers", type=int, default=1, help="leave out items with fewer readers")
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0, help="seed of the patient-level split")
    p.add_argument("--dicom", action="store_true", help="also write de-identified DICOM for DICOM sources")
    p.add_argument("--dates", choices=DATE_MODES, default="remove", help="DICOM dates: remove, or shift per patient")
    p.add_argument("--salt", help="secret keying pseudonyms and UIDs (reuse it to extend an export consistently)")
    p.add_argument("--pseudonymize-case-ids", action="store_true", help="replace case ids by keyed pseudonyms")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """What ``radtriage export`` runs; prints where the export went and its counts."""
    from radtriage.annotations import open_case_list
    from radtriage.export.cohort import export_cohort

    cases = open_case_list(args.cases).ids if args.cases else args.case_ids
    result = export_cohort(
        args.store,
        args.schema,
        args.out,
        cases=cases,
        readers=args.readers,
        consensus=args.consensus,
        adjudicator=args.adjudicator,
        min_readers=args.min_readers,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
        dicom=args.dicom,
        dates=args.dates,
        salt=args.salt,
        pseudonymize_case_ids=args.pseudonymize_case_ids,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        total = result.datasheet["counts"]["total"]
        print(
            f"exported {total['rows']} label row(s), {total['cases']} case(s), {total['patients']} patient(s) to "
            f"{result.folder} ({len(result.left_out)} item(s) left out; see README.md)"
        )
        if not args.salt:
            print("pseudonyms were keyed with a fresh random salt that is not stored; pass --salt to control it")
    return 0
