"""``radtriage info``: load an image file or DICOM series and describe its geometry and contrast."""

from __future__ import annotations

import argparse

from radtriage.commands.common import print_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("path", help="NIfTI/NRRD/MHA file, a DICOM file or a DICOM folder")
    parser.add_argument("--series", help="SeriesInstanceUID to pick when a folder holds several series")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.describe import describe_image
    from radtriage.io import read_image

    image = read_image(args.path, series_uid=args.series)
    info = describe_image(image)
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>20}: {value}")
    return 0
