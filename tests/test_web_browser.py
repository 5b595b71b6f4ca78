"""``radtriage serve`` driven in headless Chromium (Debian's /usr/bin/chromium through Playwright, no browser
download): the views stream in, a task runs in the background and its overlay shows in the axial view where the
heatmap is, keyboard labels land in the annotation store, keyboard next/previous, and the other tasks' overlays.

One server (demo phantom cases in a temporary workdir) and one page serve every test of the module, in order.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from web_server_fixture import serve_station

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (setup.sh installs it)"),
]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READER = "web-test-reader"
START_TIMEOUT_S = 120
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``radtriage serve`` on a free loopback port with a temporary workdir; yields (url with token, workdir)."""
    workdir = tmp_path_factory.mktemp("serve")
    with serve_station(workdir, "--reader", READER) as served:
        TIMINGS["server_ready_s"] = served.ready_s
        yield served.url, workdir


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    url = server[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        opened = time.monotonic()
        pg.goto(url)
        pg.wait_for_selector("#rt-view-Red", state="attached", timeout=60_000)
        pg.opened_at = opened  # type: ignore[attr-defined]
        yield pg
        context.close()
        browser.close()


def status(pg) -> dict:
    """The page's state summary (the hidden #rt-status element the server keeps up to date)."""
    return json.loads(pg.evaluate("document.getElementById('rt-status')?.textContent") or "{}")


def wait_status(pg, predicate, timeout_s: float = 60.0, what: str = "") -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = status(pg)
        if current and predicate(current):
            return current
        pg.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}: {status(pg)}")


def view_pixels(pg, view: str = "Red") -> np.ndarray:
    """The streamed image of a view as an RGB array (a screenshot of its <img>)."""
    from PIL import Image as PILImage

    handle = pg.evaluate_handle(f"document.getElementById('rt-view-{view}').parentElement.querySelector('img')")
    element = handle.as_element()
    assert element is not None, f"view {view} has no streamed image"
    return np.asarray(PILImage.open(io.BytesIO(element.screenshot())).convert("RGB")).astype(int)


def lit_fraction(rgb: np.ndarray) -> float:
    """Share of bright pixels: image content (slice views are black, the 3D background a grey below 64)."""
    return float((rgb.max(axis=2) > 100).mean())


NO_HEATMAP = 0.005
"""Share of warm pixels in a view without heatmap: the yellow line where the sagittal view cuts it (~0.2%)."""
SHOWN_HEATMAP = 0.007
"""Heatmap-coloured fraction of the axial view that counts as shown: the demo infarct's focal map covers about 1 %
of the view on the slice through its peak (where the station moves the views after a run)."""


def warm_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels in the heatmap's colours (red to yellow): red well above blue; grey images have R == B."""
    return (rgb[..., 0] - rgb[..., 2] > 60) & (rgb[..., 0] > 100)


def wait_pixels(pg, predicate, view: str = "Red", timeout_s: float = 30.0) -> np.ndarray:
    deadline = time.monotonic() + timeout_s
    while True:
        rgb = view_pixels(pg, view)
        if predicate(rgb) or time.monotonic() > deadline:
            return rgb
        pg.wait_for_timeout(250)


def open_case(pg, case_id: str) -> None:
    """Open a case from the worklist tab (the row click brings the Read tab back)."""
    pg.click("#rt-tab-worklist")
    pg.click(f"#rt-cases >> text={case_id}")


def patch(rgb: np.ndarray, fx: float, fy: float, half: int = 2) -> np.ndarray:
    h, w, _ = rgb.shape
    x, y = round(fx * (w - 1)), round(fy * (h - 1))
    return rgb[max(0, y - half): y + half + 1, max(0, x - half): x + half + 1].reshape(-1, 3).mean(axis=0)


# ------------------------------------------------------------------------------------------------------- tests


def test_views_stream_in_with_the_first_case(page) -> None:
    first = wait_status(page, lambda s: s["case_id"] == "01-brain-infarct" and s["scene_revision"] >= 1,
                        what="the first case")
    assert first["task"] == "mri_triage" and first["job"] == "idle"
    for view in ("Red", "Green", "Yellow", "ThreeD"):
        rgb = wait_pixels(page, lambda a: lit_fraction(a) > 0.02, view)
        assert lit_fraction(rgb) > 0.02, f"{view} view stayed blank"
    TIMINGS["first_views_s"] = time.monotonic() - page.opened_at
    print(f"\nserver ready after {TIMINGS['server_ready_s']:.1f} s; four views rendered "
          f"{TIMINGS['first_views_s']:.1f} s after opening the page")


def test_running_the_task_shows_the_heatmap_in_the_axial_view(page, server) -> None:
    before = view_pixels(page, "Red")
    assert warm_mask(before).mean() < NO_HEATMAP, "heatmap colours before any run"
    revision = status(page)["scene_revision"]
    page.click("#rt-run")
    seen_running = wait_status(page, lambda s: s["job"] in ("running", "succeeded"), 30, "the job to start")
    done = wait_status(page, lambda s: s["job"] == "succeeded" and s["scene_revision"] > revision
                       and s["outputs_shown"], 120, "the task run")
    assert seen_running["job"] in ("running", "succeeded") and done["percent"] == 100.0
    peak = done["heatmap_peak"]
    assert peak is not None and peak["value"] >= 0.2, done
    after = wait_pixels(page, lambda a: warm_mask(a).mean() > SHOWN_HEATMAP)
    at_peak_before, at_peak_after = patch(before, peak["x"], peak["y"]), patch(after, peak["x"], peak["y"])
    print(f"\naxial view at the heatmap peak ({peak['x']:.2f}, {peak['y']:.2f}): RGB before "
          f"{at_peak_before.round().tolist()} after {at_peak_after.round().tolist()}; heatmap-coloured pixels "
          f"{100 * warm_mask(before).mean():.2f}% -> {100 * warm_mask(after).mean():.2f}%")
    assert abs(at_peak_before[0] - at_peak_before[2]) < 25, "not grey before the run"
    assert at_peak_after[0] - at_peak_after[2] > 60, "no heatmap colour where the heatmap peaks"
    assert warm_mask(after).mean() > SHOWN_HEATMAP
    result = server[1] / "project" / "results" / "01-brain-infarct" / "mri_triage" / "result.json"
    assert json.loads(result.read_text())["task"] == "mri_triage"
    assert "demo, not for clinical use" in page.inner_text("#rt-model")  # the demo model says what it is
    # the opacity slider reaches the scene: with the overlay switched off (key "o") the colour goes away
    page.keyboard.press("o")
    off = wait_pixels(page, lambda a: warm_mask(a).mean() < NO_HEATMAP)
    assert warm_mask(off).mean() < NO_HEATMAP
    page.keyboard.press("o")
    assert warm_mask(wait_pixels(page, lambda a: warm_mask(a).mean() > SHOWN_HEATMAP)).mean() > SHOWN_HEATMAP


def test_keyboard_label_is_committed_to_the_store(page, server) -> None:
    from radtriage.annotations import open_store

    page.locator("body").click(position={"x": 700, "y": 20})  # focus the page, not a control
    page.keyboard.press("2")  # option 2 of the focused control: Normal / abnormal -> abnormal
    state = wait_status(page, lambda s: s["controls"] and s["controls"][0]["current"] == "abnormal", 20,
                        "the label")
    assert "saved" in state["message"]
    page.keyboard.press("j")  # focus the critical findings control, toggle finding 1
    wait_status(page, lambda s: s["focus_control"] == 1, 10, "focus")
    page.keyboard.press("1")
    wait_status(page, lambda s: s["controls"][1]["current"] == ["acute_infarct"], 20, "the finding")
    store = open_store(server[1] / "project")
    labels = {e.schema: e for e in store.current_labels(case_id="01-brain-infarct", reader_id=READER)}
    assert labels["mri_normal_abnormal"].value == "abnormal"
    assert labels["mri_critical_findings"].value == ["acute_infarct"]
    assert labels["mri_normal_abnormal"].model_version not in ("", "blinded")  # the model output was on screen
    assert "1 done" in page.locator("#rt-progress").inner_text()


def test_keyboard_next_and_previous(page) -> None:
    page.keyboard.press("ArrowRight")
    wait_status(page, lambda s: s["case_id"] == "02-brain-normal" and s["case_index"] == 1, 30, "next case")
    page.keyboard.press("ArrowLeft")
    back = wait_status(page, lambda s: s["case_id"] == "01-brain-infarct", 30, "previous case")
    assert back["controls"][0]["current"] == "abnormal"  # the reader's label is shown again
    assert back["outputs_shown"]  # and the stored result's overlay reloads without running again


def test_cmb_markups_with_confidences(page) -> None:
    open_case(page, "03-swi-microbleeds")
    wait_status(page, lambda s: s["case_id"] == "03-swi-microbleeds" and s["job"] != "running", 30, "CMB case")
    page.keyboard.press("r")
    done = wait_status(page, lambda s: s["outputs_shown"] and s["case_id"] == "03-swi-microbleeds", 120, "CMB run")
    assert done["cmb_points"] >= 1
    rows = page.locator("#rt-cmb-list > div").all_inner_texts()
    assert len(rows) == done["cmb_points"] and all("confidence 0." in r or "confidence 1." in r for r in rows)
    assert {c["kind"] for c in done["controls"]} == {"cmb"}


def test_body_region_label_of_the_current_slice(page) -> None:
    open_case(page, "05-body-ct")
    wait_status(page, lambda s: s["case_id"] == "05-body-ct", 30, "body case")
    page.keyboard.press("r")
    done = wait_status(page, lambda s: s["outputs_shown"] and s["slice_info"].get("region"), 120, "body run")
    assert done["slice_info"]["region"] in page.locator("#rt-slice-info").inner_text()
    before = view_pixels(page, "Green")  # the coronal view shows the region band in the label layer
    assert lit_fraction(before) > 0.02
