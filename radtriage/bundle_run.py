"""A bundle's MONAI inference workflow: ``python -m monai.bundle run`` over image files.

Every bundle written by :func:`radtriage.models.writer.write_bundle` (the shipped ones included) carries, in its
``inference.json``, a ``run`` item (:data:`radtriage.models.networks.WORKFLOW_CONFIG`) that MONAI's bundle
runner executes::

    python -m monai.bundle run --config_file B/configs/inference.json --meta_file B/configs/metadata.json \\
        --bundle_root B --image scan.nii.gz --output_dir out/

:func:`run_bundle` runs the bundle's task exactly as ``radtriage infer --task TASK --bundle B --input ...
--output out/`` does — the same input checks, the same ``result.json`` and volumes — so this is a front end
over that command, not a second pipeline. This package never executes the ``run`` item itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def run_bundle(bundle_root: str | Path, image: str | Sequence[str] | Mapping[str, str], output_dir: str | Path,
               device: str = "auto", options: Mapping[str, Any] | None = None) -> str:
    """Run the task of the bundle at ``bundle_root`` on ``image`` (one path, a list of paths, or ``{KEY: path}``
    with KEY an input name such as a contrast; a bare path's key is its file name before the first dot) and write
    the results into ``output_dir``; returns the path of ``result.json``. Raises RuntimeError when
    ``radtriage infer`` refuses (its one-line reason is printed first)."""
    from radtriage.cli import main
    from radtriage.models.bundle import read_metadata

    root = Path(bundle_root).resolve()
    task = read_metadata(root).task
    if isinstance(image, Mapping):
        inputs = [f"{key}={path}" for key, path in image.items()]
    else:
        inputs = [str(p) for p in ([image] if isinstance(image, (str, Path)) else image) if str(p)]
    if not inputs or not str(output_dir):
        raise ValueError("give the input with --image PATH (or a list / {KEY: PATH}) and the results folder with "
                         "--output_dir DIR")
    argv = ["infer", "--task", task, "--bundle", str(root), "--input", *inputs, "--output", str(output_dir),
            "--device", str(device), "--progress", "none"]
    for key, value in (options or {}).items():
        argv += ["--option", f"{key}={json.dumps(value)}"]
    code = main(argv)
    if code != 0:
        raise RuntimeError(f"radtriage infer exited with code {code} (its reason is printed above)")
    return str(Path(output_dir) / "result.json")
