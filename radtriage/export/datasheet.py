"""The export's datasheet: ``datasheet.json`` (machine-readable) and ``README.md`` (for people).

It holds counts (cases, patients, labels per class and split), the readers and how much each labelled, the
inter-reader agreement from :func:`radtriage.annotations.store_agreement`, the consensus rule, what was left out
and why, and how the data were de-identified. It never holds patient identifiers, source paths or the salt.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from radtriage.annotations import LabelSchema
from radtriage.export.consensus import stratum

SPLITS = ("train", "val", "test")


def class_name(schema: LabelSchema, value: Any) -> str:
    """The counting class of one label value."""
    if schema.kind == "multilabel":
        return "+".join(value) if value else "none"
    if schema.kind == "rating":
        middle = ((schema.minimum or 0.0) + (schema.maximum or 0.0)) / 2
        return f">= {middle:g}" if stratum(schema, value) else f"< {middle:g}"
    if schema.kind == "cmb":
        return str(value.get("decision"))
    return str(value)


def counts(schema: LabelSchema, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows, cases, patients and labels per class, per split and in total (rows: the exported label rows)."""
    out: dict[str, Any] = {}
    for split in (*SPLITS, "total"):
        chosen = [r for r in rows if split == "total" or r["split"] == split]
        out[split] = {
            "rows": len(chosen),
            "cases": len({r["case_id"] for r in chosen}),
            "patients": len({r["patient_id"] for r in chosen}),
            "classes": dict(sorted(Counter(class_name(schema, r["value"]) for r in chosen).items())),
        }
    return out


def agreement_summary(agreement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One line per reader pair: items both labelled, Cohen's kappa and/or ICC(2,1) where defined."""
    lines = []
    for pair in agreement.get("pairs", []):
        m = pair["metrics"]
        kappa = m.get("kappa")
        if isinstance(kappa, Mapping) and "unweighted" in kappa:
            kappa = kappa["unweighted"]
        icc = m.get("icc", {}).get("icc2_1") if isinstance(m.get("icc"), Mapping) else None
        lines.append(
            {
                "reader_a": pair["reader_a"],
                "reader_b": pair["reader_b"],
                "n": m.get("n"),
                "kappa": kappa.get("value") if isinstance(kappa, Mapping) else None,
                "icc2_1": icc.get("value") if isinstance(icc, Mapping) else None,
                "reason": m.get("reason", ""),
            }
        )
    return lines


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def render_readme(sheet: Mapping[str, Any]) -> str:
    """README.md text of an export from its datasheet."""
    s = sheet
    lines = [
        f"# RadTriage cohort export: {s['schema']['name']} ({s['task']})",
        "",
        f"Exported {s['created']} with radtriage {s['radtriage_version']}. Label schema `{s['schema']['name']}` "
        f"({s['schema']['kind']}, target {s['schema']['target']}): {s['schema']['description']}",
        "",
        "## Files",
        "",
        "* `images/<case>/image.nii.gz` (`image2`... for further series): NIfTI, voxels and geometry only; the header "
        "text fields (descrip, aux_file, db_name, intent_name) are empty. Slice labels point at one-slice volumes "
        "`image_kNNN.nii.gz`.",
        "* `labels.csv`, `labels.json`: one row per exported label (case, patient pseudonym, split, target, label, "
        "reader or consensus status, each reader's value, image paths relative to this folder).",
    ]
    if s.get("datalist"):
        lines.append(
            f"* `datalist.json`: MONAI decathlon datalist (`training`/`validation`/`test`) for `radtriage train "
            f"datalist.json --task {s['task']} --kind {s['training_kind']} --class-names "
            f"{' '.join(s['class_names'])} ...`."
        )
    else:
        lines.append(f"* no `datalist.json`: {s.get('datalist_note', 'these labels are not trainable')}")
    if s["deidentification"]["dicom"]:
        lines.append("* `dicom/<case>/<series>/IMnnnnn.dcm`: de-identified DICOM (see below).")
    lines += ["* `datasheet.json`, `agreement.json`: this sheet and the full inter-reader agreement.", ""]
    lines += ["## Cohort", "", "| split | label rows | cases | patients | labels per class |", "|---|---|---|---|---|"]
    for split in (*SPLITS, "total"):
        c = s["counts"][split]
        classes = ", ".join(f"{k}: {v}" for k, v in c["classes"].items()) or "-"
        lines.append(f"| {split} | {c['rows']} | {c['cases']} | {c['patients']} | {classes} |")
    sp = s["splits"]
    lines += [
        "",
        f"Patient-level splits (no patient in two splits), stratified by label, seed {sp['seed']}, fractions "
        f"train {sp['train']:.2f} / val {sp['val']:.2f} / test {sp['test']:.2f}.",
        "",
        "## Readers and consensus",
        "",
        f"Readers: {', '.join(f'{r} ({n} items)' for r, n in s['readers'].items()) or 'none'}.",
        f"Consensus rule: **{s['consensus']['rule']}**"
        + (f", ties decided by reader {s['consensus']['adjudicator']}" if s["consensus"]["adjudicator"] else "")
        + f", at least {s['consensus']['min_readers']} reader(s) per item. Status of the exported rows: "
        + ", ".join(f"{k} {v}" for k, v in s["consensus"]["status"].items())
        + ".",
        f"Left out: {len(s['left_out'])} item(s)"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in s["left_out_reasons"].items()) + ")" if s["left_out"] else "")
        + ".",
        "",
        "Inter-reader agreement (over all labels of this schema in the store):",
        "",
        "| reader A | reader B | items | Cohen's kappa | ICC(2,1) |",
        "|---|---|---|---|---|",
    ]
    for p in s["agreement"]:
        lines.append(
            f"| {p['reader_a']} | {p['reader_b']} | {_fmt(p['n'])} | {_fmt(p['kappa'])} | {_fmt(p['icc2_1'])} |"
        )
    d = s["deidentification"]
    lines += [
        "",
        "## De-identification",
        "",
        "Patient ids are keyed pseudonyms (HMAC-SHA-256 with a per-export salt that is not stored here)"
        + ("; case ids too" if d["case_ids_pseudonymised"] else "; case ids are the store's case ids")
        + ". No source path, file name, patient name or DICOM header text is copied into the NIfTI files, the "
        "labels or this sheet.",
    ]
    if d["dicom"]:
        lines.append(
            f"DICOM: {d['method']}. UIDs remapped consistently within this export; private tags removed; "
            f"dates {'shifted back by a per-patient number of days' if d['dates'] == 'shift' else 'removed'}."
        )
    lines.append("")
    return "\n".join(lines)


def write_json(path: Any, obj: Any) -> None:
    """Write ``obj`` as indented JSON."""
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
