"""``radtriage triage DIR``: triage every study in a folder and rank them by urgency.

Studies: each sub-folder of ``DIR`` (its DICOM series and volume files), and each volume file directly in ``DIR``.
Ranking: critical studies first (acute infarct, acute haemorrhage or mass effect above its threshold), then
studies that could not be triaged (they need a human read as much as any), then incomplete ones (a critical
output not assessable, e.g. no DWI/ADC for acute infarct), then the rest; within each group by abnormal
probability, highest first. Writes ``worklist.csv``, ``worklist.json`` and ``reports/<study>.md``
(plus ``results/<study>/`` with ``result.json`` and heatmaps when asked).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.errors import RadTriageError
from radtriage.labelsets import BRAIN_FINDINGS
from radtriage.models.output_requirements import NOT_ASSESSABLE, decision_text, probability_text
from radtriage.tasks.mri_triage.inputs import load_study_series
from radtriage.tasks.mri_triage.model import TriageModel
from radtriage.tasks.mri_triage.pipeline import run
from radtriage.tasks.result import TaskResult, to_plain, write_result
from radtriage.tasks.study import skipped_notices, unique_key
from radtriage.validation import validate_inputs

logger = logging.getLogger(__name__)

WORKLIST_CSV = "worklist.csv"
WORKLIST_JSON = "worklist.json"


@dataclass
class WorklistEntry:
    """One study of the worklist: its result (or the error that stopped it) and its rank."""

    study: str
    path: Path
    result: TaskResult | None = None
    error: str | None = None
    rank: int = 0
    report: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``critical``, ``failed``, ``incomplete`` (a critical output not assessable: no DWI/ADC or no SWI) or
        ``routine``."""
        if self.result is None:
            return "failed"
        u = self.result.outputs["urgency"]
        if u["critical"]:
            return "critical"
        return "routine" if u.get("complete", True) else "incomplete"

    def sort_key(self) -> tuple[int, float, float]:
        """Ascending sort key: critical, then failed, then incomplete, then routine; abnormal probability
        descending (a study whose abnormal output is not assessable sorts first within its group)."""
        group = {"critical": 0, "failed": 1, "incomplete": 2, "routine": 3}[self.status]
        if self.result is None:
            return (group, 0.0, 0.0)
        u = self.result.outputs["urgency"]
        p_abnormal = u["abnormal_probability"]
        return (group, -1.0 if p_abnormal is None else -p_abnormal, -u["max_critical_probability"])

    def row(self) -> dict[str, Any]:
        """The CSV/JSON row."""
        row: dict[str, Any] = {"rank": self.rank, "study": self.study, "status": self.status}
        if self.result is None:
            row.update(urgency_score="", critical_findings="", error=self.error or "")
        else:
            out = self.result.outputs
            row["urgency_score"] = round(out["urgency"]["score"], 4)
            row["critical_findings"] = ";".join(out["urgency"]["critical_findings"])
            not_assessable = out.get("not_assessable") or {}
            for name in BRAIN_FINDINGS:
                p = out["probabilities"].get(name)
                row[f"p_{name}"] = NOT_ASSESSABLE if name in not_assessable else ("" if p is None else round(p, 4))
                row[f"{name}_positive"] = "" if name not in out["decisions"] else int(bool(out["decisions"][name]))
            row["not_assessable"] = "; ".join(f"{k}: {why}" for k, why in not_assessable.items())
            row["contrasts_used"] = ";".join(out["contrasts"]["used"])
            row["missing_contrasts"] = ";".join(out["missing_contrasts"])
            row["skipped_series"] = "; ".join(f"{k}: {why}" for k, why in (out.get("skipped_series") or {}).items())
            row["error"] = ""
        row["report"] = str(self.report) if self.report else ""
        return row


def find_studies(folder: str | Path, exclude: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Study name -> path: every sub-folder and every volume file directly in ``folder`` (``exclude``: skip)."""
    from radtriage.io.volume import volume_suffix

    folder = Path(folder)
    if not folder.is_dir():
        raise RadTriageError(f"triage needs a folder of studies; {folder} is not a folder")
    studies: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.resolve() in {p.resolve() for p in exclude}:
            continue
        suffix = volume_suffix(path) if path.is_file() else None
        if path.is_dir() or suffix:
            studies[unique_key(path.name[: -len(suffix)] if suffix else path.name, studies)] = path
    return studies


def study_report(entry: WorklistEntry) -> str:
    """A Markdown report for one study."""
    lines = [f"# Triage report: {entry.study}", "", f"- Worklist rank: {entry.rank}", f"- Status: **{entry.status}**"]
    if entry.result is None:
        lines += [f"- Could not be triaged: {entry.error}", "", "Read this study without triage support.", ""]
        return "\n".join(lines)
    res = entry.result
    out = res.outputs
    bundle = res.bundle
    lines += [
        f"- Model: {bundle.get('name', '?')} {bundle.get('version', '')}" + (" (demo)" if bundle.get("demo") else ""),
        f"- Operating point: {out['operating_point']}",
        f"- Contrasts used: {', '.join(out['contrasts']['used'])}",
        f"- Missing contrasts: {', '.join(out['missing_contrasts']) or 'none'}",
        "",
        "| Output | Probability | Threshold | Decision |",
        "|---|---|---|---|",
    ]
    for f in out["findings"]:
        decision = "**positive**" if f["decision"] else decision_text(f)
        lines.append(f"| {f['output']} | {probability_text(f)} | {f['threshold']:.3f} | {decision} |")
    if res.notices:
        lines += ["", "## Notices", ""] + [f"- {n}" for n in res.notices]
    if entry.files:
        lines += ["", "## Files", ""] + [f"- {role}: `{p}`" for role, p in sorted(entry.files.items())]
    return "\n".join(lines) + "\n"


def triage_folder(
    folder: str | Path,
    out_dir: str | Path,
    *,
    bundle: str | None = None,
    device: str = "auto",
    contrasts: Mapping[str, str] | None = None,
    save_results: bool = False,
    model: TriageModel | None = None,
    progress: Callable[[float, str], None] | None = None,
    **options: Any,
) -> list[WorklistEntry]:
    """Triage every study in ``folder``, rank them, and write the worklist and reports into ``out_dir``.

    A study that cannot be read or triaged is kept in the worklist as ``failed`` with its reason. Raises
    :class:`radtriage.models.BundleNotFoundError` when no bundle is installed (before any study is read).
    """
    report = progress or (lambda fraction, message="": None)
    out = Path(out_dir)
    studies = find_studies(folder, exclude=(out,))
    if not studies:
        raise RadTriageError(f"no studies (sub-folders or volume files) in {folder}")
    model = model or TriageModel.from_bundle(bundle, device)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    entries = []
    for n, (name, path) in enumerate(studies.items()):
        report(n / len(studies), f"study {n + 1} of {len(studies)}")
        entry = WorklistEntry(name, path)
        try:
            images, skipped = load_study_series(path)
            checked = validate_inputs("mri_triage", images, options={"contrasts": contrasts})  # as run_task does
            entry.result = run(checked.inputs, model=model, contrasts=contrasts, heatmaps=save_results, **options)
            entry.result.notices.extend(n for n in checked.notices if n not in entry.result.notices)
            entry.result.outputs["skipped_series"] = dict(skipped)
            entry.result.notices.extend(skipped_notices(skipped))
        except (RadTriageError, ValueError, RuntimeError, OSError) as exc:
            entry.error = str(exc)
            logger.warning("study %d of %d could not be triaged: %s", n + 1, len(studies), type(exc).__name__)
        if entry.result is not None and save_results:
            entry.files = write_result(entry.result, out / "results" / name)
        entries.append(entry)
    entries.sort(key=WorklistEntry.sort_key)
    for rank, entry in enumerate(entries, start=1):
        entry.rank = rank
        entry.report = out / "reports" / f"{entry.study}.md"
        entry.report.write_text(study_report(entry), encoding="utf-8")
    write_worklist(entries, out)
    report(1.0, f"ranked {len(entries)} studies")
    return entries


def write_worklist(entries: list[WorklistEntry], out_dir: Path) -> dict[str, Path]:
    """``worklist.csv`` and ``worklist.json`` (rows in rank order)."""
    rows = [e.row() for e in entries]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    csv_path = out_dir / WORKLIST_CSV
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    bundle = next((e.result.bundle for e in entries if e.result is not None), {})
    doc = {"task": "mri_triage", "bundle": bundle,
           "ranking": "critical first, then failed, then routine; abnormal probability descending",
           "studies": [{**row, "notices": e.result.notices if e.result else []} for row, e in zip(rows, entries,
                                                                                                 strict=True)]}
    json_path = out_dir / WORKLIST_JSON
    json_path.write_text(json.dumps(to_plain(doc), indent=2), encoding="utf-8")
    return {"csv": csv_path, "json": json_path}
