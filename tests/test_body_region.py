"""BodyRegion core: label set in the bundle, slice geometry, smoothing, ranges, header QA, the runner and MRML."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io import write_volume
from radtriage.labelsets import CT_BODY_REGIONS, MR_BODY_REGIONS
from radtriage.models import BundleNotFoundError, read_metadata
from radtriage.phantoms import make_body_case
from radtriage.tasks import run_task
from radtriage.tasks.body_region import (
    LABEL_VOLUME,
    canonical_slices,
    find_body_region_bundle,
    header_qa,
    region_label_image,
    region_ranges,
    slice_axis_of,
    slice_geometry,
    smooth_slice_probabilities,
    transition_log_matrix,
)
from radtriage.tasks.body_region.bundle_meta import body_region_metadata, network_def
from radtriage.tasks.body_region.header_qa import terms_in_text
from radtriage.tasks.body_region.intensity import determine_modality

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One thread: the CI machine is small and shared, and oversubscribed threads make torch far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rot(axis: int, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    m = np.eye(3)
    i, j = [x for x in range(3) if x != axis]
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


# ----------------------------------------------------------------------------------------- label set in bundle
@pytest.mark.parametrize(("modality", "labelset"), [("CT", CT_BODY_REGIONS), ("MR", MR_BODY_REGIONS)])
def test_bundle_metadata_stores_the_label_set(tmp_path, modality, labelset):
    from radtriage.models import write_bundle
    from radtriage.nets.body_region import BodyRegionNet

    meta = body_region_metadata(modality, version="0.0.1", demo=True)
    args = {k: v for k, v in network_def(modality).items() if k != "_target_"}
    folder = write_bundle(tmp_path / "b", BodyRegionNet(**args), meta, network_def(modality))
    parsed = read_metadata(folder)
    assert parsed.class_names == labelset.names and len(parsed.class_names) == {"CT": 17, "MR": 18}[modality]
    stored = parsed.raw["radtriage"]["labelset"]
    assert stored["colours"] == [list(c.colour) for c in labelset.classes]
    assert [s["code"] for s in stored["snomed"]] == [c.snomed_code for c in labelset.classes]
    assert ("breast" in parsed.class_names) == (modality == "MR")
    assert parsed.inputs.modality == modality and parsed.demo
    assert "not for clinical use" in parsed.description


# ------------------------------------------------------------------------------------------------ smoothing
def _noisy_probs(truth: np.ndarray, k: int, rng: np.random.Generator, flip: float = 0.3) -> np.ndarray:
    """Probabilities peaked on the truth, with ``flip`` of the slices peaked on a random wrong class."""
    probs = rng.dirichlet(np.ones(k) * 0.5, size=len(truth)) * 0.3
    peak = truth.copy()
    wrong = rng.random(len(truth)) < flip
    peak[wrong] = rng.integers(0, k, wrong.sum())
    probs[np.arange(len(truth)), peak] += 0.7
    return probs / probs.sum(axis=1, keepdims=True)


def _runs(seq: np.ndarray) -> list[int]:
    return [int(seq[0])] + [int(b) for a, b in itertools.pairwise(seq) if a != b]


def test_transitions_only_stay_or_move_later():
    names = CT_BODY_REGIONS.names
    log_t = transition_log_matrix(names, 5.0)
    np.testing.assert_allclose(np.exp(log_t).sum(axis=1), 1.0)
    assert np.all(np.isneginf(log_t[np.tril_indices(len(names), -1)]))
    chest, abdomen, upper_arm = (names.index(n) for n in ("chest", "abdomen", "upper_arm"))
    assert log_t[chest, abdomen] > log_t[chest, upper_arm]  # next in chain beats a cross-chain jump
    assert transition_log_matrix(names, 1.0)[0, 0] > log_t[0, 0]  # thinner slices stay more


def test_smoothing_recovers_contiguous_ranges_from_noisy_probabilities():
    names = CT_BODY_REGIONS.names
    rng = np.random.default_rng(7)
    regions = ["neck", "shoulder", "chest", "abdomen", "pelvis"]
    truth = np.concatenate([np.full(n, names.index(r)) for r, n in zip(regions, [12, 15, 30, 25, 18], strict=True)])
    probs = _noisy_probs(truth, len(names), rng)
    order = np.arange(len(truth))  # slice 0 is the most superior
    sm = smooth_slice_probabilities(probs, names, order, 5.0)
    assert len(_runs(np.argmax(probs, axis=1))) > 20  # the raw argmax is fragmented
    assert np.mean(sm.labels == truth) >= 0.97
    assert [names[i] for i in _runs(sm.labels)] == regions
    assert np.all(np.diff(sm.labels) >= 0)
    assert np.all((sm.confidence > 0) & (sm.confidence <= 1 + 1e-9))
    assert np.mean(sm.confidence[sm.labels == truth]) > 0.8


def test_smoothing_follows_the_head_to_feet_order_when_slices_run_feet_first():
    names = MR_BODY_REGIONS.names
    rng = np.random.default_rng(3)
    regions = ["upper_arm", "elbow", "forearm", "hand"]
    truth_h2f = np.concatenate([np.full(n, names.index(r)) for r, n in zip(regions, [20, 8, 15, 12], strict=True)])
    truth = truth_h2f[::-1]  # native slice 0 is the most inferior (identity direction)
    probs = _noisy_probs(truth, len(names), rng, flip=0.25)
    sm = smooth_slice_probabilities(probs, names, np.arange(len(truth))[::-1], 6.0)
    assert np.mean(sm.labels == truth) >= 0.85
    assert [names[i] for i in _runs(sm.labels[::-1])] == regions
    # Decoding with the wrong order can only produce non-decreasing labels toward the feet: it must fail here.
    wrong = smooth_slice_probabilities(probs, names, np.arange(len(truth)), 6.0)
    assert np.mean(wrong.labels == truth) < 0.8


def test_single_region_volume_gives_one_range():
    names = MR_BODY_REGIONS.names
    truth = np.full(25, names.index("breast"))
    probs = _noisy_probs(truth, len(names), np.random.default_rng(1), flip=0.3)
    sm = smooth_slice_probabilities(probs, names, np.arange(25), 3.0)
    assert set(sm.labels.tolist()) == {names.index("breast")}
    with pytest.raises(ValueError, match="permutation"):
        smooth_slice_probabilities(probs, names, np.zeros(25, dtype=int), 3.0)


# ---------------------------------------------------------------------------------------- geometry and ranges
def test_ranges_in_mm_and_indices_on_an_oblique_flipped_volume():
    # k runs toward the feet (flipped) and is tilted 20 deg about L-R; in-plane axes point R and A.
    direction = _rot(0, 20.0) @ np.diag([-1.0, -1.0, -1.0])
    image = Image(np.zeros((12, 4, 5), np.float32), (2.0, 2.0, 4.0), (10.0, -5.0, 30.0), direction)
    geo = slice_geometry(image)
    assert geo.axis == 2 and geo.superior_first and abs(geo.tilt_degrees - 20.0) < 1e-6
    labels = np.array([0] * 5 + [2] * 7)  # head then neck, slice 0 most superior
    ranges = region_ranges(labels, np.full(12, 0.9), geo, CT_BODY_REGIONS)
    assert [r["region"] for r in ranges] == ["head", "neck"]
    assert ranges[0]["index_range"] == [0, 4] and ranges[1]["index_range"] == [5, 11]
    assert ranges[0]["first_index"] == 0 and ranges[1]["last_index"] == 11
    centres = image.index_to_lps(np.array([[2.0, 1.5, k] for k in range(12)]))
    assert ranges[0]["superior_z_mm"] == pytest.approx(centres[0, 2])
    assert ranges[1]["inferior_z_mm"] == pytest.approx(centres[11, 2])
    half = 2.0 * np.cos(np.radians(20.0))
    assert ranges[1]["z_range_mm"] == pytest.approx([centres[11, 2] - half, centres[5, 2] + half])
    assert ranges[0]["z_range_mm"][0] == pytest.approx(ranges[1]["z_range_mm"][1])  # ranges abut
    pos = centres @ direction[:, 2]
    assert ranges[0]["position_range_mm"] == pytest.approx([pos[0], pos[4]])
    assert sum(r["n_slices"] for r in ranges) == 12


def test_canonical_slices_do_not_depend_on_volume_direction():
    base = make_body_case(5, "CT", n_slices=6, start_region="chest", end_region="abdomen", noise=False)
    flipped_dir = np.diag([-1.0, -1.0, -1.0])  # i toward R, j toward A, k toward the feet
    flipped = make_body_case(5, "CT", n_slices=6, start_region="chest", end_region="abdomen", noise=False,
                             direction=flipped_dir)
    a = canonical_slices(base.image, fill=-1024)
    b = canonical_slices(flipped.image, fill=-1024)
    ga, gb = slice_geometry(base.image), slice_geometry(flipped.image)
    np.testing.assert_allclose(ga.z_mm[ga.head_to_feet()], gb.z_mm[gb.head_to_feet()], atol=1e-6)
    diff = np.abs(a[ga.head_to_feet()] - b[gb.head_to_feet()])
    assert np.median(diff) < 1.0 and np.mean(diff) < 20.0
    # Left is toward increasing columns: the phantom's left lung (LPS +x) is in the right half of the image.
    lung = a[ga.head_to_feet()[0]] < -500
    body = a[ga.head_to_feet()[0]] > -200
    assert body.any() and lung[:, 32:].sum() > 0
    # A volume whose axes were permuted so that i runs along S: slices are taken along i, same pictures.
    img = base.image
    perm = Image(np.transpose(img.array, (1, 2, 0)), tuple(np.asarray(img.spacing)[[2, 0, 1]]), img.origin,
                 img.direction[:, [2, 0, 1]])
    assert slice_axis_of(perm) == 0
    c = canonical_slices(perm, fill=-1024)
    np.testing.assert_allclose(c, a, atol=1e-3)


def test_canonical_slices_sample_the_right_patient_positions_on_a_fine_oblique_grid():
    """A linear field of LPS position survives box filtering and bilinear sampling exactly: each canonical pixel
    must hold the value at its own patient position (columns toward left, rows toward posterior)."""
    direction = _rot(2, 30.0) @ _rot(0, 15.0) @ np.diag([-1.0, 1.0, -1.0])
    image = Image(np.zeros((3, 180, 200), np.float32), (0.7, 0.7, 2.5), (12.0, -30.0, 40.0), direction)
    k, j, i = np.meshgrid(*(np.arange(n) for n in image.array.shape), indexing="ij")
    lps = image.index_to_lps(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1))
    image = image.with_array((lps[:, 0] + 2.0 * lps[:, 1]).reshape(image.array.shape).astype(np.float32))
    geo = slice_geometry(image)
    assert geo.tilt_degrees == pytest.approx(15.0)
    out = canonical_slices(image, geo, size=64, fov_mm=512.0, fill=np.nan)
    offsets = (np.arange(64) - 31.5) * 8.0
    for s in range(3):
        pos = (geo.centres_lps[s][None, None, :] + offsets[None, :, None] * geo.in_plane_u
               + offsets[:, None, None] * geo.in_plane_v)
        expected = pos[..., 0] + 2.0 * pos[..., 1]
        inside = np.isfinite(out[s])
        assert inside.sum() > 150  # the ~140 mm volume covers many 8 mm pixels of the 512 mm grid
        np.testing.assert_allclose(out[s][inside], expected[inside], atol=0.05)
    assert geo.in_plane_u[0] > 0.9 and geo.in_plane_v[1] > 0.9  # toward L and P


def test_label_volume_has_one_label_per_slice_over_the_input_extent():
    direction = _rot(2, 30.0)
    image = Image(np.zeros((7, 40, 50), np.float32), (0.8, 0.9, 3.0), (1.0, 2.0, 3.0), direction)
    geo = slice_geometry(image)
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    vol = region_label_image(image, geo, labels)
    assert vol.array.shape == (7, 16, 16) and vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array[:, 3, 5], labels + 1)
    np.testing.assert_allclose(vol.direction, direction)
    # the outer voxel edges coincide: first corner (-0.5, -0.5) and last corner (size - 0.5) of both grids
    for src, dst in (([-0.5, -0.5, 6.0], [-0.5, -0.5, 6.0]), ([49.5, 39.5, 6.0], [15.5, 15.5, 6.0])):
        np.testing.assert_allclose(image.index_to_lps(np.array([src])), vol.index_to_lps(np.array([dst])), atol=1e-6)


# ------------------------------------------------------------------------------------------------- header QA
def _ranges(*regions_and_counts):
    return [{"region": r, "n_slices": n} for r, n in regions_and_counts]


def test_header_qa_verdicts():
    ls = CT_BODY_REGIONS
    none = header_qa(_ranges(("chest", 30)), None, ls)
    assert none["status"] == "no header information" and not none["flag"]
    assert header_qa(_ranges(("head", 30)), {"StudyDescription": "None"}, ls)["status"] == "no header information"
    match = header_qa(_ranges(("shoulder", 5), ("chest", 30), ("abdomen", 6)), {"BodyPartExamined": "CHEST"}, ls)
    assert match["status"] == "match" and not match["flag"]
    partial = header_qa(_ranges(("chest", 30), ("abdomen", 30), ("pelvis", 20)), {"BodyPartExamined": "CHEST"}, ls)
    assert partial["status"] == "partial" and partial["flag"] and "pelvis" in partial["message"]
    mismatch = header_qa(_ranges(("head", 40)), {"BodyPartExamined": "KNEE"}, ls)
    assert mismatch["status"] == "mismatch" and mismatch["flag"]
    assert header_qa(_ranges(("knee", 10), ("lower_leg", 30)), {"BodyPartExamined": "LEG"}, ls)["status"] == "match"
    unknown = header_qa(_ranges(("head", 4)), {"StudyDescription": "My Study Name"}, ls)
    assert unknown["status"] == "unrecognised" and not unknown["flag"]
    study = header_qa(_ranges(("chest", 20), ("abdomen", 30), ("pelvis", 20)),
                      {"StudyDescription": "CT CHEST/ABD/PELVIS W CONTRAST"}, ls)
    assert study["status"] == "match" and study["sources"][0]["terms"] == ["CHEST", "ABDOMEN", "PELVIS"]
    spine = header_qa(_ranges(("neck", 20)), {"BodyPartExamined": "CSPINE", "StudyDescription": "MRI C-spine"}, ls)
    assert spine["status"] == "match" and [s["terms"] for s in spine["sources"]] == [["CSPINE"], ["CSPINE"]]
    breast = header_qa(_ranges(("breast", 30)), {"BodyPartExamined": "BREAST"}, MR_BODY_REGIONS)
    assert breast["status"] == "match" and "breast" in breast["expected_regions"]
    assert header_qa(_ranges(("thigh", 5), ("knee", 40)), {"BodyPartExamined": "EXTREMITY"}, ls)["status"] == "match"
    # a tiny stray range (< 10 % of slices) does not count
    assert header_qa(_ranges(("head", 2), ("knee", 40)), {"BodyPartExamined": "KNEE"}, ls)["status"] == "match"
    assert terms_in_text("whole-body PET/CT") == ["WHOLEBODY"]


def test_modality_from_option_dicom_or_intensity():
    ct = make_body_case(0, "CT", n_slices=2, noise=False).image
    mr = make_body_case(0, "MR", n_slices=2, noise=False).image
    assert determine_modality(ct) == ("CT", "metadata")
    ct, mr = (Image(im.array, im.spacing, im.origin, im.direction) for im in (ct, mr))  # no metadata
    assert determine_modality(ct) == ("CT", "intensity")
    assert determine_modality(mr) == ("MR", "intensity")
    assert determine_modality(ct, "mri") == ("MR", "option")
    tagged = mr.with_array(mr.array, dicom_tags={"Modality": "MR"})
    assert determine_modality(tagged) == ("MR", "dicom")
    with pytest.raises(InputError, match="neither CT nor MR"):
        determine_modality(mr.with_array(mr.array, dicom_tags={"Modality": "PT"}))


# ---------------------------------------------------------------------------------------------- the runner
def _phantom_slices(modality: str, seeds: range) -> tuple[np.ndarray, np.ndarray]:
    from radtriage.tasks.body_region.runner import prepare_slices

    xs, ys = [], []
    for seed in seeds:
        case = make_body_case(seed, modality, start_region="head", end_region="foot", spacing=(8.0, 8.0, 40.0),
                              size=(48, 48))
        _, x = prepare_slices(case.image, modality)
        xs.append(x)
        ys.append(case.slice_labels)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def ct_bundle(tmp_path_factory):
    """A CT bundle whose net was fitted for a few steps on a handful of phantom slices (not a real training)."""
    from radtriage.models import write_bundle
    from radtriage.nets.body_region import BodyRegionNet

    torch.manual_seed(0)
    x, y = _phantom_slices("CT", range(1))
    args = {k: v for k, v in network_def("CT").items() if k != "_target_"}
    net = BodyRegionNet(**args)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x[:, None]), torch.from_numpy(y)
    for _ in range(4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    meta = body_region_metadata("CT", version="0.0.1", demo=True, name="test-body-region-ct")
    return write_bundle(tmp_path_factory.mktemp("bundles") / "test-body-region-ct", net.eval(), meta,
                        network_def("CT"))


def test_runner_reports_every_slice_and_contiguous_ranges(ct_bundle):
    case = make_body_case(11, "CT", start_region="neck", end_region="pelvis", spacing=(8.0, 8.0, 10.0),
                          size=(48, 48), direction=np.diag([-1.0, -1.0, -1.0]))
    image = case.image.with_array(case.image.array, dicom_tags={"Modality": "CT", "BodyPartExamined": "KNEE"})
    seen = []
    result = run_task("body_region", inputs={"ct": image}, bundle=str(ct_bundle), device="cpu",
                      progress=lambda f, m: seen.append(f))
    out = result.outputs
    n = image.size[2]
    assert out["n_slices"] == n and len(out["slices"]) == n and [s["index"] for s in out["slices"]] == list(range(n))
    assert out["modality"] == "CT" and out["modality_source"] == "dicom" and out["index_direction"] == "head_to_feet"
    covered = sorted(i for r in out["ranges"] for i in range(r["index_range"][0], r["index_range"][1] + 1))
    assert covered == list(range(n))  # contiguous, non-overlapping, every slice
    names = CT_BODY_REGIONS.names
    order = [names.index(r["region"]) for r in out["ranges"]]
    assert order == sorted(order)  # head to feet
    assert out["labelset"]["class_names"] == list(names)
    assert out["header_qa"]["sources"][0]["value"] == "KNEE"
    labels = result.volumes[LABEL_VOLUME]
    assert labels.size[2] == n and np.allclose(labels.direction, image.direction)
    by_index = {s["index"]: names.index(s["region"]) + 1 for s in out["slices"]}
    np.testing.assert_array_equal(labels.array[:, 0, 0], [by_index[k] for k in range(n)])
    assert result.bundle["demo"] and any("not for clinical use" in s for s in result.notices)
    assert seen == sorted(seen) and seen[-1] < 1.0


def test_infer_command_writes_result_json(ct_bundle, tmp_path, monkeypatch):
    from radtriage.cli import main
    from radtriage.io import read_image, write_volume

    monkeypatch.setenv("RADTRIAGE_MODEL_DIR", str(ct_bundle.parent))
    case = make_body_case(4, "CT", start_region="chest", end_region="pelvis", spacing=(8.0, 8.0, 12.0), size=(48, 48))
    path = write_volume(case.image, tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    code = main(["infer", "--task", "body_region", "--input", str(path), "--output", str(out),
                 "--bundle", "test-body-region-ct", "--device", "cpu"])
    assert code == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["task"] == "body_region" and doc["bundle"]["name"] == "test-body-region-ct"
    assert len(doc["outputs"]["slices"]) == case.image.size[2]
    assert doc["outputs"]["modality_source"] == "intensity"
    assert doc["volumes"] == {LABEL_VOLUME: f"{LABEL_VOLUME}.nii.gz"}
    labels = read_image(out / f"{LABEL_VOLUME}.nii.gz")
    assert labels.size[2] == case.image.size[2]


def test_missing_bundle_refuses_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr("radtriage.models.registry.model_search_dirs", lambda: [tmp_path])
    image = make_body_case(0, "MR", n_slices=3, noise=False).image
    with pytest.raises(BundleNotFoundError, match="body_region MR"):
        run_task("body_region", inputs={"mr": image}, device="cpu")
    with pytest.raises(BundleNotFoundError):
        find_body_region_bundle("CT")


def test_runner_refuses_zero_or_two_inputs(ct_bundle):
    image = make_body_case(0, "CT", n_slices=3, noise=False).image
    with pytest.raises(InputError, match="exactly one"):
        run_task("body_region", inputs={}, bundle=str(ct_bundle))
    with pytest.raises(InputError, match="exactly one"):
        run_task("body_region", inputs={"a": image, "b": image}, bundle=str(ct_bundle))
    with pytest.raises(BundleNotFoundError, match="not body_region MR"):
        run_task("body_region", inputs={"a": image}, bundle=str(ct_bundle), modality="MR")


# ------------------------------------------------------------------------------------------------------ MRML
@pytest.mark.mrml
def test_mrml_outputs_survive_an_mrb_round_trip(ct_bundle, tmp_path):
    pytest.importorskip("slicer", reason="slicer-core (the MRML libraries) is not installed")
    from radtriage.mrml import (
        create_headless_scene,
        image_to_volume_node,
        load_mrb,
        patient_and_study_of,
        rows_from_table,
        save_mrb,
        volume_node_to_image,
    )
    from radtriage.tasks.body_region.mrml import add_task_result

    case = make_body_case(2, "CT", start_region="head", end_region="chest", spacing=(8.0, 8.0, 15.0), size=(32, 32))
    result = run_task("body_region", inputs={"ct": case.image}, bundle=str(ct_bundle), device="cpu")
    with create_headless_scene() as headless:
        scene = headless.scene
        ref = image_to_volume_node(scene, case.image, "CT")
        nodes = add_task_result(scene, result, patient_name="Anon^Body", study_name="CT whole body",
                                reference_node=ref)
        assert patient_and_study_of(scene, nodes["label_volume"]) == ("Anon^Body", "CT whole body")
        path = save_mrb(scene, tmp_path / "body.mrb")
    with load_mrb(path) as headless:
        scene = headless.scene
        table = scene.GetFirstNodeByName("Body region ranges")
        rows = rows_from_table(table)
        assert [r["region"] for r in rows] == [r["region"] for r in result.outputs["ranges"]]
        assert [r["first_index"] for r in rows] == [r["first_index"] for r in result.outputs["ranges"]]
        assert rows[0]["superior_z_mm"] == pytest.approx(result.outputs["ranges"][0]["superior_z_mm"])
        assert table.GetAttribute("RadTriage.HeaderQA.Status") == "no header information"
        per_slice = rows_from_table(scene.GetFirstNodeByName("Body region per slice"))
        assert len(per_slice) == case.image.size[2]
        label_node = scene.GetFirstNodeByName("Body regions")
        assert label_node.IsA("vtkMRMLLabelMapVolumeNode")
        back = volume_node_to_image(label_node)
        expected = result.volumes[LABEL_VOLUME]
        assert back.same_geometry(expected, tol=1e-4)
        np.testing.assert_array_equal(back.array, expected.array)
        colour = label_node.GetDisplayNode().GetColorNode()
        assert colour is not None and colour.GetNumberOfColors() == len(CT_BODY_REGIONS) + 1
        assert colour.GetColorName(1) == "head" and colour.GetColorName(17) == "foot"
        rgba = [0.0] * 4
        colour.GetColor(5, rgba)
        assert rgba[:3] == pytest.approx([c / 255 for c in CT_BODY_REGIONS["chest"].colour], abs=1e-3)
        assert patient_and_study_of(scene, label_node) == ("Anon^Body", "CT whole body")


# ------------------------------------------------------------------------------- files shipped by pydicom
@pytest.fixture(scope="module")
def mr_bundle(tmp_path_factory):
    """An untrained MR bundle (bookkeeping and geometry do not depend on the weights)."""
    from radtriage.models import write_bundle
    from radtriage.nets.body_region import BodyRegionNet

    nd = network_def("MR")
    net = BodyRegionNet(**{k: v for k, v in nd.items() if k != "_target_"}).eval()
    meta = body_region_metadata("MR", version="0.0.1", demo=True, name="test-body-region-mr")
    return write_bundle(tmp_path_factory.mktemp("bundles") / "test-body-region-mr", net, meta, nd)


@pytest.mark.parametrize(("name", "modality"), [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")])
def test_runner_on_pydicom_dicom_files(ct_bundle, mr_bundle, name, modality):
    pydicom_data = pytest.importorskip("pydicom.data")
    from radtriage.io import read_image

    image = read_image(pydicom_data.get_testdata_file(name))
    bundle = ct_bundle if modality == "CT" else mr_bundle
    result = run_task("body_region", inputs={"image": image}, bundle=str(bundle), device="cpu")
    out = result.outputs
    assert out["modality"] == modality and out["modality_source"] == "dicom"
    assert out["n_slices"] == 1 and len(out["slices"]) == 1 and len(out["ranges"]) == 1
    centre = image.index_to_lps(np.array([[(image.size[0] - 1) / 2, (image.size[1] - 1) / 2, 0.0]]))[0]
    assert out["slices"][0]["z_mm"] == pytest.approx(centre[2])
    assert out["header_qa"]["status"] in ("no header information", "unrecognised", "match", "partial", "mismatch")


def test_installed_demo_bundles_label_phantom_volumes():
    """The shipped demo bundles (when present) label unseen phantom volumes mostly right after smoothing."""
    checked = 0
    for modality, seed in (("CT", 424242), ("MR", 434343)):
        try:
            folder = find_body_region_bundle(modality)
        except BundleNotFoundError:
            continue
        assert read_metadata(folder).demo
        names = (CT_BODY_REGIONS if modality == "CT" else MR_BODY_REGIONS).names
        right = total = 0
        for s in range(seed, seed + 3):
            case = make_body_case(s, modality, start_region="neck", end_region="knee", size=(48, 48))
            result = run_task("body_region", inputs={"image": case.image}, device="cpu", modality=modality)
            got = [x["region"] for x in result.outputs["slices"]]
            right += sum(a == names[b] for a, b in zip(got, case.slice_labels, strict=True))
            total += len(got)
            assert any("not for clinical use" in n for n in result.notices)
        assert right / total >= 0.75
        checked += 1
    if not checked:
        pytest.skip("no body-region demo bundle installed (run scripts/train_demo_body_region.py)")


def test_min_confidence_marks_uncertain_slices_and_is_passed_from_the_cli(tmp_path):
    from radtriage.cli import main as cli_main

    image = make_body_case(3, modality="CT").image
    path = write_volume(image, tmp_path / "ct.nii.gz")
    assert cli_main(["infer", "--task", "body_region", "--input", str(path), "--output", str(tmp_path / "a"),
                     "--option", "min_confidence=1.0"]) == 0
    strict = json.loads((tmp_path / "a" / "result.json").read_text())["outputs"]
    assert strict["min_confidence"] == 1.0
    assert strict["uncertain_slices"] == [r["index"] for r in strict["slices"] if r["confidence"] < 1.0]
    assert len(strict["uncertain_slices"]) > 0
    assert cli_main(["infer", "--task", "body_region", "--input", str(path), "--output", str(tmp_path / "b"),
                     "--option", "min_confidence=0"]) == 0
    lax = json.loads((tmp_path / "b" / "result.json").read_text())["outputs"]
    assert lax["uncertain_slices"] == [] and not any(r["uncertain"] for r in lax["slices"])
    assert cli_main(["infer", "--task", "body_region", "--input", str(path), "--output", str(tmp_path / "c")]) == 0
    default = json.loads((tmp_path / "c" / "result.json").read_text())["outputs"]  # the declared default, 0.5
    assert default["min_confidence"] == 0.5
    assert default["uncertain_slices"] == [r["index"] for r in default["slices"] if r["confidence"] < 0.5]
