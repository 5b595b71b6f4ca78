"""``radtriage scan``: group the DICOM files under a folder into patient / study / series."""

from __future__ import annotations

import argparse

from radtriage.commands.common import print_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.describe import describe_series
    from radtriage.io import scan_dicom

    series = scan_dicom(args.folder)
    rows = [describe_series(s) for s in series]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no DICOM image series found under {args.folder}")
        return 1
    for row in rows:
        print(
            f"patient {row['patient_key']}  study …{row['study_uid'][-8:]}  series …{row['series_uid'][-8:]}  "
            f"{row['modality']:<3} {row['n_images']:>4} images  {row['contrast']:<7} "
            f"({row['contrast_confidence']:.2f})  {row['series_description']}"
        )
    return 0
