"""A task result as a Comprehensive 3D SR (TID 1500 measurement report) referencing its source instances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import highdicom as hd
import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    CodedConcept,
    FindingSite,
    ImageRegion3D,
    Measurement,
    MeasurementsAndQualitativeEvaluations,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.sr.codedict import codes

from radtriage.dicom_out import codes as c
from radtriage.dicom_out.source import SourceSeries, primary_series
from radtriage.tasks.result import TaskResult

SR_SERIES_NUMBER = 9901


def _algorithm(result: TaskResult) -> AlgorithmIdentification:
    """Model name and version, with the operating point and thresholds as parameters."""
    out, params = result.outputs, []
    for key in ("operating_point", "decision_threshold", "threshold", "certainty_band"):
        if out.get(key) is not None:
            params.append(f"{key}={out[key]}")
    params += [f"threshold_{name}={value:.4f}" for name, value in (out.get("thresholds") or {}).items()]
    if result.bundle.get("demo"):
        params.append("demo=true")
    return AlgorithmIdentification(str(result.bundle.get("name", result.task)), str(result.bundle.get("version", "?")),
                                   params or None)


def _text(group: Any, text: str) -> None:
    """Append a TEXT item to a measurement group: a qualitative evaluation in text form, TID 1501 row 12
    (CONTAINS TEXT after the coded evaluations of row 11; DCMTK's ``TID1501_MeasurementGroup``
    ``addQualitativeEvaluation(conceptName, stringValue)`` writes the same)."""
    item = TextContentItem(name=c.COMMENT, value=text[:1024], relationship_type="CONTAINS")
    group[0].ContentSequence.append(item)


def _tracking(label: str) -> TrackingIdentifier:
    return TrackingIdentifier(uid=hd.UID(), identifier=label[:64])


def _summary_group(result: TaskResult, algorithm: AlgorithmIdentification) -> MeasurementsAndQualitativeEvaluations:
    """The report's first group: model, disclaimer, notices."""
    group = MeasurementsAndQualitativeEvaluations(_tracking(f"{result.task} summary"), algorithm_id=algorithm,
                                                  finding_type=c.private(result.task, f"RadTriage {result.task}"))
    _text(group, c.DISCLAIMER if result.bundle.get("demo") else c.NOT_FOR_CLINICAL_USE)
    _text(group, f"model {result.bundle.get('name', '?')} version {result.bundle.get('version', '?')}")
    for notice in result.notices:
        _text(group, notice)
    return group


def _triage_groups(result: TaskResult, algorithm: AlgorithmIdentification) -> list[Any]:
    """mri_triage: one group per output with probability, threshold and decision (or not assessable)."""
    groups = []
    for f in result.outputs.get("findings", []):
        name = c.private(f["output"])
        measurements = [Measurement(c.THRESHOLD, float(f["threshold"]), c.UNITLESS)]
        if f.get("assessable", True) and f.get("probability") is not None:
            measurements.insert(0, Measurement(c.PROBABILITY, float(f["probability"]), c.UNITLESS))
            decision = c.PRESENT if f.get("decision") else c.ABSENT
        else:
            decision = c.NOT_ASSESSABLE
        evaluations = [QualitativeEvaluation(c.DECISION, decision)]
        if f.get("critical"):
            evaluations.append(QualitativeEvaluation(c.CRITICAL, codes.SCT.Yes))
        group = MeasurementsAndQualitativeEvaluations(_tracking(f["output"]), finding_type=name, algorithm_id=algorithm,
                                                      measurements=measurements, qualitative_evaluations=evaluations)
        if f.get("reason"):
            _text(group, f"not assessable: {f['reason']}")
        groups.append(group)
    return groups


def _cmb_groups(result: TaskResult, algorithm: AlgorithmIdentification, series: SourceSeries) -> list[Any]:
    """cmb_detect: one planar ROI group per detection, its centre a SCOORD3D point (LPS, the DICOM patient frame)."""
    groups = []
    for d in result.outputs.get("detections", []):
        point = ImageRegion3D("POINT", np.asarray([d["center_lps"]], dtype=float), series.frame_of_reference_uid)
        location = c.private(str(d.get("location", "unknown")))
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            _tracking(str(d["label"])), referenced_region=point, finding_type=c.private("microbleed", "Microbleed"),
            algorithm_id=algorithm,
            measurements=[Measurement(c.CONFIDENCE, float(d["confidence"]), c.UNITLESS),
                          Measurement(c.RADIUS, float(d["radius_mm"]), c.MM)],
            qualitative_evaluations=[QualitativeEvaluation(c.LOCATION, location)]))
    return groups


def _lge_groups(result: TaskResult, algorithm: AlgorithmIdentification, series: SourceSeries) -> list[Any]:
    """lge_certainty: one group per slice with likelihood, certainty and reading, referencing its SOP instance."""
    groups = []
    by_slice = series.by_slice if not (result.outputs.get("geometry") or {}).get("reformatted") else None
    for s in result.outputs.get("slices", []):
        k = int(s["index"])
        source = None
        if by_slice is not None and k < len(by_slice):
            source = [SourceImageForMeasurementGroup.from_source_image(by_slice[k])]
        group = MeasurementsAndQualitativeEvaluations(
            _tracking(f"slice {k}"), finding_type=c.private("lge", "Late gadolinium enhancement"),
            algorithm_id=algorithm, source_images=source,
            measurements=[Measurement(c.LIKELIHOOD, float(s["likelihood"]), c.UNITLESS)],
            qualitative_evaluations=[QualitativeEvaluation(c.CERTAINTY, c.private(f"certainty_{s['certainty']}",
                                                                                  f"{s['certainty']} certainty")),
                                     QualitativeEvaluation(c.READING, c.private(str(s["reading"])))])
        if s.get("hint"):
            _text(group, str(s["hint"]))
        groups.append(group)
    return groups


def _region_groups(result: TaskResult, algorithm: AlgorithmIdentification) -> list[Any]:
    """body_region: one group per region range (SNOMED finding site, z range and slice range)."""
    groups = []
    for r in result.outputs.get("ranges", []):
        site = CodedConcept(str(r["snomed_code"]), "SCT", str(r["display_name"])) if r.get("snomed_code") else None
        first, last = r["index_range"]
        measurements = [Measurement(c.SUPERIOR, float(r["superior_z_mm"]), c.MM),
                        Measurement(c.INFERIOR, float(r["inferior_z_mm"]), c.MM),
                        Measurement(c.LENGTH, float(r["length_mm"]), c.MM),
                        Measurement(c.FIRST_INDEX, float(first), c.UNITLESS),
                        Measurement(c.LAST_INDEX, float(last), c.UNITLESS)]
        if r.get("mean_confidence") is not None:
            measurements.append(Measurement(c.MEAN_CONFIDENCE, float(r["mean_confidence"]), c.UNITLESS))
        groups.append(MeasurementsAndQualitativeEvaluations(
            _tracking(str(r["region"])), finding_type=c.private("body_region", "Body region"), algorithm_id=algorithm,
            finding_sites=[FindingSite(site)] if site else None, measurements=measurements))
    return groups


def build_sr(result: TaskResult, sources: Mapping[str, SourceSeries], *, series_number: int = SR_SERIES_NUMBER,
             evidence: Sequence[Any] | None = None) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of ``result`` over ``sources`` (every dataset is evidence; patient/study copied)."""
    if not sources:
        raise ValueError("no DICOM source series: a DICOM result needs DICOM input")
    algorithm = _algorithm(result)
    primary = primary_series(result.outputs, sources)
    groups: list[Any] = [_summary_group(result, algorithm)]
    if result.task == "mri_triage":
        groups += _triage_groups(result, algorithm)
    elif result.task == "cmb_detect":
        groups += _cmb_groups(result, algorithm, primary)
    elif result.task == "lge_certainty":
        groups += _lge_groups(result, algorithm, primary)
    elif result.task == "body_region":
        groups += _region_groups(result, algorithm)
    device = hd.sr.ObserverContext(codes.DCM.Device, hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(), name="RadTriage", manufacturer_name=c.MANUFACTURER,
        model_name=f"{result.bundle.get('name', '?')} {result.bundle.get('version', '')}".strip()))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=c.private(result.task, f"RadTriage {result.task}"),
        imaging_measurements=groups)
    datasets = list(evidence) if evidence is not None else [ds for s in sources.values() for ds in s.datasets]
    demo = " DEMO not for clinical use" if result.bundle.get("demo") else ""
    sr = hd.sr.Comprehensive3DSR(
        evidence=datasets, content=report[0], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=c.MANUFACTURER, is_complete=True)
    sr.SeriesDescription = f"RadTriage {result.task}{demo}"[:64]
    sr.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: notices hold dashes and other non-Latin-1 characters
    return sr
