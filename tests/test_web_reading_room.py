"""The reading room of ``radtriage serve`` in headless Chromium at 1366x768: the label panel and the views fit,
window/level by left-drag and presets, the series picker, ratings that commit only on request, undo, the
worklist order, CMB jump and click-to-add, the LGE score following the short-axis view, and the DICOM node's
live worklist.

One server (demo phantom cases in a temporary workdir) and one page serve every test of the module, in order.
Set ``RADTRIAGE_SCREENSHOTS=DIR`` to keep screenshots of the page.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, lit_fraction, status, view_pixels, wait_pixels, wait_status
from test_web_node_worklist import node_studies
from web_server_fixture import serve_station

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (setup.sh installs it)"),
]
READER = "reading-room-reader"
WIDTH, HEIGHT = 1366, 768
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """``radtriage serve`` on the demo cases; yields the running server (its URL from the ready line)."""
    workdir = tmp_path_factory.mktemp("reading-room")
    (workdir / "node").mkdir()
    with serve_station(workdir, "--reader", READER, "--node-worklist", str(workdir / "node")) as running:
        yield running


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        pg = context.new_page()
        opened = time.monotonic()
        pg.goto(served.url)
        pg.wait_for_selector("#rt-view-Red", state="attached", timeout=60_000)
        wait_status(pg, lambda s: s["case_id"] and s["scene_revision"] >= 1, 60, "the first case")
        for view in ("Red", "Green", "Yellow"):
            wait_pixels(pg, lambda a: lit_fraction(a) > 0.02, view, 60)
        TIMINGS["first_views_s"] = time.monotonic() - opened
        yield pg
        context.close()
        browser.close()


def screenshot(pg, name: str) -> None:
    folder = os.environ.get("RADTRIAGE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(folder) / f"{name}.png"))


def view_box(pg, view: str) -> dict:
    box = pg.evaluate_handle(f"document.getElementById('rt-view-{view}').parentElement.querySelector('img')")
    rect = box.as_element().bounding_box()
    assert rect is not None
    return rect


def settled_pixels(pg, view: str, changed_from: np.ndarray | None = None, timeout_s: float = 20.0) -> np.ndarray:
    """The view's image once two screenshots agree (and, given ``changed_from``, it differs from that one)."""
    deadline = time.monotonic() + timeout_s
    last = view_pixels(pg, view)
    while time.monotonic() < deadline:
        pg.wait_for_timeout(300)
        now = view_pixels(pg, view)
        moved = changed_from is None or now.shape != changed_from.shape or np.abs(now - changed_from).mean() > 1.0
        if now.shape == last.shape and np.abs(now - last).mean() < 0.2 and moved:
            return now
        last = now
    return last


def pick(pg, select_id: str, option: str) -> None:
    """Choose ``option`` in a Vuetify select."""
    pg.locator(f"#{select_id}").click(force=True)  # the id is on the select's input, under its text
    pg.locator(".v-overlay-container .v-list-item", has_text=option).first.click()
    pg.evaluate("document.activeElement && document.activeElement.blur()")  # page keys work again


def go_to(pg, case_id: str) -> dict:
    pg.click("#rt-tab-worklist")
    pg.click(f"#rt-cases >> text={case_id}")  # opens the case and the Read tab
    return wait_status(pg, lambda s: s["case_id"] == case_id, 30, case_id)


def store_of(served):
    from radtriage.annotations import open_store

    return open_store(served.workdir / "project")


# ------------------------------------------------------------------------------------------------------- tests


def test_label_panel_and_views_fit_at_1366x768(page) -> None:
    labels = page.locator("#rt-labels").bounding_box()
    assert labels is not None and labels["y"] + 60 < HEIGHT, f"label panel starts below the fold: {labels}"
    for view in ("Red", "Green", "Yellow"):
        box = view_box(page, view)
        assert box["y"] + box["height"] <= HEIGHT + 1, f"{view} view runs past the window: {box}"
    assert page.locator("footer").count() == 0 or not page.locator("footer").first.is_visible()
    letters = page.locator("#rt-letters-Red").inner_text()
    assert "R" in letters and "L" in letters and "A" in letters and "mm" in letters
    screenshot(page, "01-first-case")
    print(f"\nthe three slice views streamed {TIMINGS['first_views_s']:.1f} s after opening the page")


def test_window_level_drag_and_presets_change_pixels(page) -> None:
    before_state = status(page)
    before = settled_pixels(page, "Red")
    box = view_box(page, "Red")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    started = time.monotonic()
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + 12 * i, y + 6 * i)
    page.mouse.up()
    dragged = wait_status(page, lambda s: s["window_level"] != before_state["window_level"], 20, "W/L to change")
    after = settled_pixels(page, "Red", changed_from=before)
    TIMINGS["wl_drag_s"] = time.monotonic() - started
    diff = float(np.abs(after - before).mean())
    print(f"\nleft-drag: W/L {before_state['window_level']} -> {dragged['window_level']} "
          f"(preset {dragged['wl_preset']}); mean grey {before.mean():.1f} -> {after.mean():.1f}, mean |diff| "
          f"{diff:.1f}, {TIMINGS['wl_drag_s']:.2f} s to the new image")
    assert dragged["wl_preset"] == "custom" and diff > 2.0
    pick(page, "rt-wl", "bone")
    bone = wait_status(page, lambda s: s["window_level"] == [2000.0, 500.0], 20, "the bone preset")
    assert bone["wl_preset"] == "bone"
    boned = settled_pixels(page, "Red", changed_from=after)
    assert float(np.abs(boned - after).mean()) > 2.0
    pick(page, "rt-wl", "auto")
    wait_status(page, lambda s: s["wl_preset"] == "auto" and s["window_level"] != [2000.0, 500.0], 20, "auto")


def test_series_picker_shows_every_contrast(page) -> None:
    state = status(page)
    assert {"ADC", "DWI", "FLAIR", "SWI", "T1"} <= set(state["backgrounds"])
    shown = {}
    for series in ("DWI", "FLAIR"):
        pick(page, "rt-background", series)
        wait_status(page, lambda s, series=series: s["background"] == series, 20, series)
        shown[series] = settled_pixels(page, "Red", changed_from=shown.get("DWI"))
    diff = float(np.abs(shown["DWI"] - shown["FLAIR"]).mean())
    print(f"\nseries DWI -> FLAIR: mean grey {shown['DWI'].mean():.1f} -> {shown['FLAIR'].mean():.1f}, "
          f"mean |diff| {diff:.1f}")
    assert diff > 2.0


def test_worklist_sorts_by_urgency_and_filters(page, served) -> None:
    before = view_pixels(page, "Red")
    started = time.monotonic()
    page.keyboard.press("ArrowRight")  # 02-brain-normal
    wait_status(page, lambda s: s["case_id"] == "02-brain-normal", 30, "next case")
    settled_pixels(page, "Red", changed_from=before)
    print(f"\nnext case: its views on screen {time.monotonic() - started:.2f} s after the key")
    go_to(page, "03-swi-microbleeds")
    page.keyboard.press("r")
    done = wait_status(page, lambda s: s["outputs_shown"] and s["job"] == "succeeded", 120, "CMB run")
    order = done["worklist"]
    assert order[0] == "03-swi-microbleeds", order  # the only case with a result: probability first
    assert order[1:] == sorted(order[1:]), order  # then list order for cases without one
    page.click("#rt-tab-worklist")
    pick(page, "rt-worklist-sort", "list order")
    wait_status(page, lambda s: s["worklist"] == sorted(s["worklist"]), 20, "list order")
    pick(page, "rt-worklist-filter", "not run")
    filtered = wait_status(page, lambda s: "03-swi-microbleeds" not in s["worklist"], 20, "not-run filter")
    assert len(filtered["worklist"]) == 4
    pick(page, "rt-worklist-filter", "all")
    wait_status(page, lambda s: len(s["worklist"]) == 5, 20, "all cases")
    page.click("#rt-tab-read")


def test_cmb_jump_and_click_to_add(page, served) -> None:
    state = status(page)
    assert state["case_id"] == "03-swi-microbleeds" and state["cmb_points"] >= 1
    rows = page.locator(".rt-cmb-row")
    rows.first.click()
    jumped = wait_status(page, lambda s: s["slice_info"]["views"]["Red"]["offset_mm"] != state["slice_info"]["views"][
        "Red"]["offset_mm"], 20, "the jump")
    page.click("#rt-add-cmb")
    wait_status(page, lambda s: s["add_mode"], 10, "add mode")
    box = view_box(page, "Red")
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    added = wait_status(page, lambda s: "added a microbleed" in s["message"], 20, "the added microbleed")
    assert not added["add_mode"]
    store = store_of(served)
    entries = [e for e in store.current_labels(case_id="03-swi-microbleeds", reader_id=READER)
               if e.target.startswith("candidate:reader-")]
    assert len(entries) == 1 and entries[0].value["decision"] == "add"
    ras = entries[0].value["ras_mm"]
    assert len(ras) == 3 and abs(ras[2] - jumped["slice_info"]["views"]["Red"]["offset_mm"]) < 1.0  # on that slice
    print(f"\nadded a microbleed at RAS {[round(v, 1) for v in ras]} (axial view at "
          f"S {jumped['slice_info']['views']['Red']['offset_mm']} mm)")
    screenshot(page, "02-cmb")


def test_undo_withdraws_my_last_commit(page, served) -> None:
    assert status(page)["can_undo"]
    page.click("#rt-undo")
    wait_status(page, lambda s: "undone" in s["message"], 20, "undo")
    store = store_of(served)
    current = store.current_labels(case_id="03-swi-microbleeds", reader_id=READER)
    assert not [e for e in current if e.target.startswith("candidate:reader-")]
    history = store.history(case_id="03-swi-microbleeds", reader_id=READER)
    assert [e.action for e in history] == ["set", "retract"]  # appended, the history keeps both


def test_ratings_commit_only_on_request_and_lge_score_follows_the_short_axis_view(page, served) -> None:
    go_to(page, "04-lge-stack")
    page.keyboard.press("r")
    ran = wait_status(page, lambda s: s["outputs_shown"] and s["case_id"] == "04-lge-stack"
                      and s["job"] == "succeeded", 120, "LGE run")
    assert not ran["message"], "the previous case's message carried over"
    slider = page.locator(".rt-rating").first
    slider.click()  # a click moves the thumb, commits nothing
    page.keyboard.press("ArrowRight")  # moves the slider, does not open the next case
    page.wait_for_timeout(800)
    assert status(page)["case_id"] == "04-lge-stack"
    assert store_of(served).current_labels(case_id="04-lge-stack", reader_id=READER) == []
    page.locator(".rt-rating-commit").first.click()
    committed = wait_status(page, lambda s: s["controls"][0]["current"] is not None, 20, "the rating")
    assert "saved" in committed["message"]
    page.locator(".rt-rating").nth(1).click()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")  # Enter on a focused slider commits it
    committed = wait_status(page, lambda s: s["controls"][1]["current"] is not None, 20, "the rating by Enter")
    assert committed["case_id"] == "04-lge-stack"
    lge = committed["slice_info"]
    assert lge["view"] == "Yellow" and "lge_slice" in lge, lge  # the short-axis slices are in the sagittal view
    box = view_box(page, lge["view"])
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(150)
    moved = wait_status(page, lambda s: s["slice_info"].get("lge_slice") not in (None, lge["lge_slice"]), 20,
                        "the LGE score to follow the scroll")
    print(f"\nLGE: scrolling the {lge['view']} view moved the rated slice {lge['lge_slice']} -> "
          f"{moved['slice_info']['lge_slice']} ({moved['slice_info']['text']})")
    screenshot(page, "03-lge")
    page.evaluate("document.activeElement && document.activeElement.blur()")  # off the slider: arrows navigate
    page.keyboard.press("ArrowRight")
    cleared = wait_status(page, lambda s: s["case_id"] == "05-body-ct", 30, "next case")
    assert not cleared["message"] and cleared["percent"] == 0.0 and cleared["job"] == "idle"


def test_the_node_tab_follows_the_dicom_nodes_worklist(page, served) -> None:
    from radtriage.dicom_node.worklist import write_worklist

    node = served.workdir / "node"
    studies = node_studies(node)
    page.click("#rt-tab-node")
    page.wait_for_selector("#rt-node-message", timeout=10_000)  # no worklist.json yet: one line says so
    write_worklist(node, studies[:1], [])
    page.wait_for_selector("#rt-node-studies >> text=1.2.3.4", timeout=10_000)
    write_worklist(node, studies, [])  # a critical study arrives: it goes on top within a second or two
    page.wait_for_selector("#rt-node-studies >> text=CRITICAL", timeout=10_000)
    titles = page.locator("#rt-node-studies .v-list-item-title").all_inner_texts()
    assert titles[0].startswith("CRITICAL") and "1.2.3.5" in titles[0], titles
    assert page.locator("#rt-node-studies >> text=body_region: failed").count() == 1
    screenshot(page, "node-worklist")
    page.click("#rt-tab-read")

