"""``radtriage demo``: the main job on an embedded default — phantom cases, every installed task, a report and a scene.

Nothing here needs real data or a download. For every task it generates a phantom case with known ground truth,
writes it to disk and reads it back through the project's I/O (as a user's files would be), runs the steps that are
installed (contrast detection, common-grid preprocessing, and each task's model when its bundle is present), and
writes ``report.md`` with PNG views plus ``demo_scene.mrb`` (every volume, overlay, markup and table in place under a
patient/study in the subject hierarchy) that opens in 3D Slicer.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.seed_papers import SEED_PAPERS

log = logging.getLogger(__name__)

DEMO_PATIENT = "RadTriage demo phantom (not a patient)"
DEMO_NOTICE = "Phantom data and demo models only: demo, not for clinical use."


@dataclass
class DemoSection:
    """One part of the demo report: a title, Markdown lines, and figures relative to the output folder."""

    title: str
    lines: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def _save_png(path: Path, rgb: np.ndarray) -> str:
    from matplotlib import image as mpimg

    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, rgb)
    return path.name if path.parent.name == "" else f"{path.parent.name}/{path.name}"


def _task_status() -> dict[str, str]:
    """For each task: 'installed' with its bundle, or why it will not run."""
    from radtriage.models import BundleNotFoundError, find_bundle
    from radtriage.tasks import TASKS, available_tasks

    ready = set(available_tasks())
    status: dict[str, str] = {}
    for name, spec in TASKS.items():
        try:
            bundle = find_bundle(name)
            where = f"bundle {bundle.name} v{bundle.version}"
        except BundleNotFoundError:
            bundle, where = None, "no model bundle found"
        if name in ready and bundle is not None:
            status[name] = f"runs ({where})"
        else:
            implementation = "implementation installed" if name in ready else "task model not implemented yet"
            status[name] = f"not run: {implementation}; {where} ({spec.module})"
    return status


def _try_task(task: str, inputs: dict[str, Any], section: DemoSection, **options: Any) -> Any | None:
    """Run ``task`` when it is installed with a bundle; otherwise say why in the section and return None."""
    from radtriage.errors import RadTriageError
    from radtriage.tasks import run_task

    t0 = time.perf_counter()
    try:
        result = run_task(task, inputs=inputs, **options)
    except RadTriageError as exc:
        section.lines += ["", f"**{task} not run:** {exc}"]
        return None
    bundle = result.bundle
    section.lines += [
        "",
        f"**{task}** ran with bundle {bundle.get('name')} v{bundle.get('version')}"
        f"{' (demo, not for clinical use)' if bundle.get('demo') else ''} in {time.perf_counter() - t0:.1f} s.",
        *[f"> {notice}" for notice in result.notices],
    ]
    return result


TRIAGE_DEMO_CASES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("normal", None), ("infarct", None), ("haemorrhage", None), ("mass_effect", None),
    ("chronic_infarct", None),  # abnormal, not acute: the mimic that needs DWI/ADC to be told apart
    ("infarct", ("T1", "T2", "FLAIR", "SWI")),  # no DWI/ADC: acute infarct is not assessable
)
"""Nael et al. 2021 (internal test), the seed the demo's outputs are modelled on."""


def miss_mark(finding: dict[str, Any], truth: Any) -> str:
    """`` — MISS`` for a negative call on a positive phantom, `` — FALSE ALARM`` for the reverse, else ''."""
    if finding.get("decision") is None or truth is None:
        return ""
    if bool(truth) and not finding["decision"]:
        return " — **MISS**"
    return " — **FALSE ALARM**" if finding["decision"] and not bool(truth) else ""


def triage_cases_table(seed: int) -> list[str]:
    """A small triage worklist of fresh phantoms (normal, each finding, one without DWI/ADC): each output's
    call with misses and false alarms marked, then the bundle's test AUCs beside the seed paper's."""
    from radtriage.labelsets import BRAIN_FINDINGS
    from radtriage.models.output_requirements import decision_text
    from radtriage.phantoms.brain_mni import ACQUISITION_GRID, make_mni_brain_case
    from radtriage.tasks import run_task

    lines = ["", "Triage of fresh phantoms (seeds the demo model never saw):", "",
             "| case | contrasts | " + " | ".join(BRAIN_FINDINGS) + " | urgency |",
             "| --- | --- |" + " --- |" * (len(BRAIN_FINDINGS) + 1)]
    bundle: dict[str, Any] = {}
    for k, (finding, contrasts) in enumerate(TRIAGE_DEMO_CASES):
        case = make_mni_brain_case(seed + 1000 + k, finding, **ACQUISITION_GRID,
                                   contrasts=list(contrasts) if contrasts else None)
        result = run_task("mri_triage", inputs=dict(case.images), saliency="none")
        bundle = result.bundle
        by_output = {f["output"]: f for f in result.outputs["findings"]}
        cells = [decision_text(by_output[n]).split(" (")[0] + miss_mark(by_output[n], case.labels.get(n))
                 for n in BRAIN_FINDINGS]
        u = result.outputs["urgency"]
        status = "critical" if u["critical"] else ("incomplete" if not u["complete"] else "routine")
        lines.append(f"| {finding} | {'all 8' if not contrasts else ', '.join(contrasts)} | " + " | ".join(cells)
                     + f" | {status} |")
    own, fresh = _bundle_aucs(bundle)
    lines += ["", "| output | demo bundle AUC, its own test split | demo bundle AUC, fresh MNI-anatomy phantoms "
              "(`radtriage evaluate triage`) | seed paper AUC (Nael 2021, real) |", "| --- | --- | --- | --- |"]
    for name in BRAIN_FINDINGS:
        cells = ["n/a" if v is None else f"{v:.2f}" for v in (own.get(name), fresh.get(name))]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {SEED_PAPERS['nael2021'].metrics[name]:.2f} |")
    lines.append("The demo figures are on phantoms and say nothing about real scans; the seed's are on real studies.")
    return lines


def _bundle_aucs(bundle: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """All-contrast AUC per output: the bundle's own test split (metadata) and fresh MNI-anatomy phantoms
    (``docs/triage_phantoms.json`` written by ``radtriage evaluate triage``), each empty when not recorded."""
    from radtriage.models.bundle import read_metadata

    try:
        raw = read_metadata(bundle["path"]).raw.get("radtriage") or {}
    except Exception:  # no bundle path in the result: nothing to show
        return {}, {}
    own = dict((raw.get("test_auc") or {}).get("all contrasts") or {})
    path = Path(bundle["path"]) / "docs" / "triage_phantoms.json"
    fresh: dict[str, float] = {}
    if path.is_file():
        table = json.loads(path.read_text())["summary"]["subsets"]["all contrasts"]
        fresh = {k: v["roc_auc"]["value"] for k, v in table.items() if "roc_auc" in v}
    return own, fresh


def _brain_section(out: Path, seed: int, scene: Any, slice_logic: Any) -> DemoSection:
    from radtriage.io import read_image
    from radtriage.io.contrast import assign_contrasts
    from radtriage.mrml import (
        add_heatmap_overlay,
        blended_slice_rgba,
        image_to_volume_node,
        place_under_study,
        show_slice_through,
    )
    from radtriage.phantom_export import export_brain
    from radtriage.preprocess import GridSpec, prepare_to_grid

    section = DemoSection("Brain MRI (MRITriage input): 8-contrast phantom on MNI anatomy with an acute infarct")
    folder = out / "cases" / "brain"
    written = export_brain(folder, seed, "infarct")
    images = {p.name.split(".")[0]: read_image(p) for p in written if p.suffix == ".gz" and "mask" not in p.name}
    truth_mask = read_image(folder / "lesion_mask.nii.gz")

    assignment = assign_contrasts(images)
    section.lines += ["Contrast detection from the file names (no DICOM tags on NIfTI files):", "",
                      "| file | detected contrast | confidence | evidence |", "| --- | --- | --- | --- |"]
    for key, guess in assignment.guesses.items():
        section.lines.append(
            f"| {key}.nii.gz | {guess.contrast.value} | {guess.confidence:.2f} | {guess.explanation} |"
        )
    missing = assignment.missing()
    section.lines += ["", f"Missing contrasts: {', '.join(str(getattr(m, 'value', m)) for m in missing) or 'none'}."]

    t0 = time.perf_counter()
    grid = GridSpec.isotropic_around(images["T1"], 2.0)
    prepared = prepare_to_grid(images, reference="T1", grid=grid, register=False)
    stacked, available = prepared.stack()
    on_grid = prepared.from_native(truth_mask.with_array((truth_mask.array > 0).astype(np.float32)))
    back = prepared.to_native(on_grid.array, interpolator="linear")
    native = truth_mask.array > 0
    mapped = back.array > 0.5
    dice = 2.0 * np.logical_and(native, mapped).sum() / max(native.sum() + mapped.sum(), 1)
    section.lines += [
        "",
        f"Preprocessed onto a common 2 mm grid {list(grid.size)} in {time.perf_counter() - t0:.2f} s: "
        f"{int(available.sum())} of {len(available)} channels present, tensor {list(stacked.shape)}.",
        f"Geometry check: the lesion mask taken to the model grid and mapped back to native space overlaps the "
        f"original with Dice {dice:.3f}; the mapped-back volume has exactly the native geometry "
        f"({back.same_geometry(truth_mask)}).",
    ]

    dwi = image_to_volume_node(scene, images["DWI"], "Demo brain DWI")
    for name, image in images.items():
        if name != "DWI":
            place_under_study(scene, image_to_volume_node(scene, image, f"Demo brain {name}"), DEMO_PATIENT,
                              "Brain MRI phantom")
    place_under_study(scene, dwi, DEMO_PATIENT, "Brain MRI phantom")
    overlay = add_heatmap_overlay(scene, dwi, truth_mask.with_array((truth_mask.array > 0).astype(np.float32)),
                                  "Ground-truth lesion (phantom)", threshold=0.5, opacity=0.45)
    place_under_study(scene, overlay, DEMO_PATIENT, "Brain MRI phantom")

    centre_ijk = np.argwhere(native).mean(axis=0)[::-1]
    centre_ras = truth_mask.index_to_ras(centre_ijk)[0]
    show_slice_through(slice_logic, tuple(centre_ras), size=(384, 384))
    rgba = blended_slice_rgba(slice_logic)[::-1]
    section.figures.append(_save_png(out / "figures" / "brain_dwi_truth_overlay.png", rgba[..., :3]))
    section.lines.append("Figure: DWI axial slice through the infarct with the phantom's ground-truth lesion overlaid "
                         "(rendered by Slicer's own slice logic, headless).")

    result = _try_task("mri_triage", images, section)
    if result is not None:
        from radtriage.tasks.mri_triage.mrml import add_mri_triage_outputs

        outputs = result.outputs
        section.lines += ["", "| output | probability | threshold | decision | phantom truth |",
                          "| --- | --- | --- | --- | --- |"]
        truth = json.loads((folder / "truth.json").read_text())["labels"]
        from radtriage.models.output_requirements import decision_text, probability_text

        for f in outputs["findings"]:
            section.lines.append(f"| {f['output']} | {probability_text(f)} | {f['threshold']:.3f} | "
                                 f"{decision_text(f)}{miss_mark(f, truth.get(f['output']))} | "
                                 f"{truth.get(f['output'])} |")
        section.lines += triage_cases_table(seed)
        add_mri_triage_outputs(scene, result, background=dwi, patient_name=DEMO_PATIENT,
                               study_name="Brain MRI phantom", heatmaps=result.volumes)
        show_slice_through(slice_logic, tuple(centre_ras), size=(384, 384))
        rgba = blended_slice_rgba(slice_logic)[::-1]
        section.figures.append(_save_png(out / "figures" / "brain_dwi_model_heatmap.png", rgba[..., :3]))
        section.lines.append("Figure: the same slice with the model's saliency heatmap for the shown output.")
    return section


def _swi_section(out: Path, seed: int, scene: Any) -> DemoSection:
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    from radtriage.io import read_image
    from radtriage.io.contrast import classify_image
    from radtriage.mrml import add_detections, image_to_volume_node, place_under_study
    from radtriage.phantom_export import export_swi

    section = DemoSection("SWI (CMBDetect input): microbleeds and mimics")
    folder = out / "cases" / "swi"
    export_swi(folder, seed, n_microbleeds=6, n_mimics={"vessel": 2, "calcification": 1, "air_bone": 1})
    magnitude = read_image(folder / "swi_magnitude.nii.gz")
    truth = json.loads((folder / "truth.json").read_text())
    guess = classify_image(magnitude)
    bleeds, mimics = truth["microbleeds"], truth["mimics"]
    section.lines += [
        f"Magnitude {list(magnitude.size)} at {[round(s, 2) for s in magnitude.spacing]} mm; detected contrast "
        f"{guess.contrast.value} ({guess.confidence:.2f}).",
        f"Ground truth: {len(bleeds)} microbleeds, {len(mimics)} mimics "
        f"({', '.join(sorted({m['kind'] for m in mimics}))}).",
    ]
    node = image_to_volume_node(scene, magnitude, "Demo SWI magnitude")
    place_under_study(scene, node, DEMO_PATIENT, "SWI phantom")
    markups = add_detections(
        scene, "Ground-truth microbleeds (phantom)", [b["centre_ras"] for b in bleeds],
        labels=[f"truth-CMB-{n + 1}" for n in range(len(bleeds))],
        descriptions=[f"phantom truth, radius {b['radius_mm']:.1f} mm" for b in bleeds],
        confidences=[1.0] * len(bleeds),
    )
    place_under_study(scene, markups, DEMO_PATIENT, "SWI phantom")

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot()
    k = round(bleeds[0]["centre_ijk"][2]) if bleeds else magnitude.size[2] // 2
    ax.imshow(magnitude.array[k], cmap="gray", origin="lower")
    for b in bleeds:
        if abs(b["centre_ijk"][2] - k) < 1.5:
            radius_px = b["apparent_radius_mm"] / magnitude.spacing[0] + 2
            ax.add_patch(Circle(b["centre_ijk"][:2], radius_px, fill=False, edgecolor="lime"))
    result = _try_task("cmb_detect", {"swi": magnitude}, section)
    if result is not None:
        from radtriage.tasks.cmb_detect.mrml import add_cmb_outputs

        detections = result.outputs["detections"]
        found = _matched(bleeds, detections, magnitude)
        section.lines.append(f"{len(detections)} detections; {found} of {len(bleeds)} truth microbleeds found "
                             f"within their apparent radius + 2 mm; {len(detections) - found} other detections.")
        add_cmb_outputs(scene, result, patient_name=DEMO_PATIENT, study_name="SWI phantom")
        for d in detections:
            ijk = magnitude.ras_to_index(np.asarray(d["center_ras"]))[0]
            if abs(ijk[2] - k) < 1.5:
                ax.scatter([ijk[0]], [ijk[1]], marker="+", s=120, color="red")
    ax.set_title(f"SWI slice {k}: truth circled (green), detections + (red)")
    ax.axis("off")
    path = out / "figures" / "swi_truth.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    section.figures.append("figures/swi_truth.png")
    return section


def _matched(truth: list[dict[str, Any]], detections: list[dict[str, Any]], image: Any) -> int:
    """How many truth foci have a detection within their apparent radius + 2 mm."""
    found = 0
    for t in truth:
        centre = np.asarray(t["centre_ras"], dtype=float)
        limit = t["apparent_radius_mm"] + 2.0
        if any(np.linalg.norm(np.asarray(d["center_ras"]) - centre) <= limit for d in detections):
            found += 1
    return found


def _lge_section(out: Path, seed: int, scene: Any) -> DemoSection:
    from matplotlib.figure import Figure

    from radtriage.io import read_image
    from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows
    from radtriage.phantom_export import export_lge

    section = DemoSection("Cardiac LGE (LGECertainty input): short-axis stack")
    folder = out / "cases" / "lge"
    export_lge(folder, seed)
    stack = read_image(folder / "lge_sax.nii.gz")
    truth = json.loads((folder / "truth.json").read_text())["slices"]
    node = image_to_volume_node(scene, stack, "Demo LGE short-axis stack")
    place_under_study(scene, node, DEMO_PATIENT, "Cardiac LGE phantom")
    table = table_node_from_rows(
        scene, "LGE phantom truth per slice",
        [("slice", int), ("enhancement", str), ("truth likelihood", float), ("truth certainty", str)],
        [[t["index"], t["enhancement"], float(t["likelihood"]), t["certainty"]] for t in truth],
    )
    place_under_study(scene, table, DEMO_PATIENT, "Cardiac LGE phantom")
    counts: dict[str, int] = {}
    for t in truth:
        counts[t["certainty"]] = counts.get(t["certainty"], 0) + 1
    section.lines.append(f"{len(truth)} slices; truth certainty classes: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".")
    predicted: list[dict[str, Any]] = []
    result = _try_task("lge_certainty", {"lge": stack}, section, reformat="never")
    if result is not None:
        from radtriage.tasks.lge_certainty.mrml import add_lge_outputs

        predicted = result.outputs["slices"]
        add_lge_outputs(scene, result, patient_name=DEMO_PATIENT, study_name="Cardiac LGE phantom")
        agree = sum(p["certainty"] == t["certainty"] for p, t in zip(predicted, truth, strict=False))
        error = np.mean([abs(p["likelihood"] - t["likelihood"]) for p, t in zip(predicted, truth, strict=False)])
        section.lines.append(f"Model vs phantom truth: mean |likelihood difference| {error:.1f}; certainty class "
                             f"agrees on {agree} of {len(truth)} slices (band {result.outputs['certainty_band']}).")
    n = len(truth)
    cols = min(6, n)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(2 * cols, 2.2 * rows), dpi=80)
    for k, t in enumerate(truth):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(stack.array[k], cmap="gray", origin="lower")
        model = f" | model {predicted[k]['likelihood']:.0f} ({predicted[k]['certainty']})" if predicted else ""
        ax.set_title(f"{k}: truth {t['likelihood']:.0f} ({t['certainty']}){model}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    path = out / "figures" / "lge_stack_truth.png"
    fig.savefig(path)
    section.figures.append("figures/lge_stack_truth.png")
    return section


def _body_section(out: Path, seed: int, scene: Any) -> DemoSection:
    from matplotlib.figure import Figure

    from radtriage.io import read_image
    from radtriage.labelsets import body_region_labelset
    from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows
    from radtriage.phantom_export import export_body

    section = DemoSection("Body CT (BodyRegion input): head-to-feet phantom")
    folder = out / "cases" / "body_ct"
    export_body(folder, seed, "CT", start_region="head", end_region="foot")
    image = read_image(folder / "body_ct.nii.gz")
    truth = json.loads((folder / "truth.json").read_text())
    labelset = body_region_labelset("CT")
    regions = truth["slice_regions"]
    ranges: list[list[Any]] = []
    for k, name in enumerate(regions):
        if ranges and ranges[-1][0] == name:
            ranges[-1][2] = k
        else:
            ranges.append([name, k, k])
    node = image_to_volume_node(scene, image, "Demo body CT")
    place_under_study(scene, node, DEMO_PATIENT, "Body CT phantom")
    z = image.index_to_lps(np.array([[0, 0, k] for k in range(image.size[2])]))[:, 2]
    rows = [[name, k0, k1, float(z[k0]), float(z[k1])] for name, k0, k1 in ranges]
    table = table_node_from_rows(
        scene, "Body region truth ranges",
        [("region", str), ("first slice", int), ("last slice", int), ("first z (mm)", float), ("last z (mm)", float)],
        rows,
    )
    place_under_study(scene, table, DEMO_PATIENT, "Body CT phantom")
    section.lines.append(f"{image.size[2]} slices at {image.spacing[2]:.1f} mm covering "
                         f"{len(ranges)} regions: " + ", ".join(r[0] for r in ranges) + ".")

    predicted_regions: list[str] = []
    result = _try_task("body_region", {"image": image}, section, modality="CT")
    if result is not None:
        from radtriage.tasks.body_region.mrml import add_task_result

        per_slice = result.outputs["slices"]
        predicted_regions = [row["region"] for row in sorted(per_slice, key=lambda r: r["index"])]
        accuracy = np.mean([p == t for p, t in zip(predicted_regions, regions, strict=False)])
        section.lines.append(f"Model vs phantom truth: per-slice accuracy {accuracy:.3f} over {len(regions)} slices; "
                             f"predicted ranges: " + ", ".join(r["region"] for r in result.outputs["ranges"]) + ".")
        add_task_result(scene, result, patient_name=DEMO_PATIENT, study_name="Body CT phantom", reference_node=node)
    colours = {c.name: np.array(c.colour, dtype=float) / 255.0 for c in labelset.classes}
    coronal = image.array[:, image.size[1] // 2, :]
    band = np.stack([colours.get(name, np.zeros(3)) for name in regions])[:, None, :].repeat(6, axis=1)
    if predicted_regions:
        model_band = np.stack([colours.get(name, np.zeros(3)) for name in predicted_regions])[:, None, :]
        band = np.concatenate([band, np.ones_like(band[:, :1]), model_band.repeat(6, axis=1)], axis=1)
    fig = Figure(figsize=(5, 7), dpi=90)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(np.clip((coronal + 200) / 600, 0, 1), cmap="gray", origin="lower", aspect=image.spacing[2] /
              image.spacing[0])
    ax.axis("off")
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.imshow(band, origin="lower", aspect="auto")
    for name, k0, k1 in ranges:
        ax2.text(band.shape[1] + 1, (k0 + k1) / 2, name, fontsize=7, va="center")
    ax2.set_xlim(-0.5, band.shape[1] + 18)
    ax2.axis("off")
    fig.suptitle("Coronal view; region bands: truth" + (" | model" if predicted_regions else ""))
    path = out / "figures" / "body_regions_truth.png"
    fig.savefig(path)
    section.figures.append("figures/body_regions_truth.png")
    return section


def _write_report(out: Path, sections: list[DemoSection], status: dict[str, str], scene_path: Path,
                  seconds: float) -> Path:
    lines = [
        "# SlicerRadTriage demo report",
        "",
        f"> **{DEMO_NOTICE}** Every image below is a procedural phantom made by `radtriage.phantoms`; overlays marked "
        "'ground truth' come from the phantom generator, not from a model.",
        "",
        "## Tasks",
        "",
        "| task | status |",
        "| --- | --- |",
        *[f"| {name} | {text} |" for name, text in status.items()],
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", "", *section.lines, ""]
        lines += [f"![{Path(fig).stem}]({fig})" for fig in section.figures]
        lines.append("")
    lines += [
        "## Slicer scene",
        "",
        f"`{scene_path.name}` holds every volume, overlay, markup and table above under the patient "
        f"'{DEMO_PATIENT}' in the subject hierarchy. Open it in 3D Slicer (File › Add Data, or drag and drop).",
        "",
        f"Demo finished in {seconds:.1f} s.",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def run_demo(out: Path, seed: int = 0) -> Path:
    """Run the demo into ``out`` and return the path of its Markdown report."""
    from radtriage.mrml import create_headless_scene, save_mrb

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    status = _task_status()
    app = create_headless_scene()
    try:
        sections = [
            _brain_section(out, seed, app.scene, app.slice_logic("Red")),
            _swi_section(out, seed, app.scene),
            _lge_section(out, seed, app.scene),
            _body_section(out, seed, app.scene),
        ]
        scene_path = save_mrb(app.scene, out / "demo_scene.mrb")
    finally:
        app.close()
    report = _write_report(out, sections, status, scene_path, time.perf_counter() - t0)
    log.info("demo written to %s", out)
    return report
