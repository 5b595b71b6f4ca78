"""``radtriage worker``: the front ends' warm inference worker (:mod:`radtriage.runtime.warm_worker`)."""

from __future__ import annotations

import argparse

from radtriage.commands.common import at_least
from radtriage.runtime.warm_worker import DEFAULT_IDLE_RELEASE_S


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--idle-release-s", type=at_least(float, 1.0), default=DEFAULT_IDLE_RELEASE_S,
                        help="seconds without a job before loaded bundles and cached GPU memory are released")
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.runtime.warm_worker import run_worker

    return run_worker(args.idle_release_s)
