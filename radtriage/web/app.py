"""The web review station: one :class:`ReviewStation` per server — a trame-slicer scene with slice and 3D views,
a :class:`~radtriage.review.ReviewSession` (case list, annotation store, reader, blind mode), task runs in a
child process with a progress bar, overlays from the task modules' MRML builders and the label panel.

Everything that touches the scene runs on the server's event loop; the only slow work (the task itself) runs in
``radtriage infer`` and is polled (:mod:`radtriage.web.jobs`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from trame_server.utils.asynchronous import create_task

from radtriage.review import ReviewSession
from radtriage.review.case_mrml import clear_case, load_case
from radtriage.web import overlay_mrml as overlays
from radtriage.web.jobs import JobStatus, TaskJob
from radtriage.web.keys import action_for_key, value_for_digit
from radtriage.web.labels import controls_state, label_for, to_plain
from radtriage.web.slice_info import current_slice_info

logger = logging.getLogger(__name__)

HEATMAP_THRESHOLD = 0.2
"""Heatmap values below this are transparent (the MRI task's MRML builder default)."""
POLL_S = 0.2


class ReviewStation:
    """State, scene and actions of the web station (the UI is built by :func:`radtriage.web.layout.build_ui`)."""

    def __init__(self, server: Any, session: ReviewSession, *, device: str = "cpu", title: str = "RadTriage review",
                 volume_rendering: bool = False):
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories

        from radtriage.web.layout import REVIEW_LAYOUT, build_ui, slice_view_gutter, threed_view_gutter

        self.server = server
        self.state = server.state
        self.session = session
        self.device = device
        self.volume_rendering = volume_rendering
        self.job: TaskJob | None = None
        self.controls: list[Any] = []
        self.loaded: dict[str, Any] = {}
        server.enable_module(trame_slicer_module)
        self.slicer = SlicerApp()
        register_rca_factories(self.slicer.view_manager, server, slice_view_ui_f=slice_view_gutter,
                               three_d_view_ui_f=threed_view_gutter)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, server)
        self.layout_manager.register_layout("review", REVIEW_LAYOUT)
        self.layout_manager.set_layout("review")
        self._init_state(title)
        self._register_triggers()
        build_ui(self, title)
        self._observe_axial_slice()
        start = session.resume()
        if start is None and len(session.cases):
            session.cases.go_to(session.cases.ids[0])
        self.load_current_case(reset_views=True)

    # ------------------------------------------------------------------ state
    def _init_state(self, title: str) -> None:
        s = self.state
        s.trame__title = title
        s.reader_id = self.session.reader_id
        s.blind = self.session.blind
        s.cases = []
        s.case_id = ""
        s.case_index = 0
        s.task = ""
        s.progress_text = ""
        s.job = JobStatus().to_state()
        s.overlay_opacity = 0.5
        s.overlay_visible = True
        s.outputs_shown = False
        s.result_exists = False
        s.slice_info = {"slice": None, "text": ""}
        s.heatmap_peak = None
        s.cmb_points = []
        s.summary = ""
        s.model_line = ""
        s.notices = []
        s.controls = []
        s.focus_control = 0
        s.message = ""
        s.scene_revision = 0
        s.status_text = "{}"
        self.state.change("overlay_opacity", "overlay_visible")(self._on_opacity)

    def _register_triggers(self) -> None:
        trigger = self.server.trigger
        trigger("rt_key")(self.on_key)
        trigger("rt_commit")(self.commit_control)
        trigger("rt_go_to")(self.go_to)
        trigger("rt_next")(self.next_case)
        trigger("rt_previous")(self.previous_case)
        trigger("rt_run")(self.run_task)
        trigger("rt_focus")(self.focus)

    def _status(self) -> dict[str, Any]:
        """A compact summary of the page's state (a hidden element shows it; tests and scripts read it)."""
        s = self.state
        return {"case_id": s.case_id, "case_index": s.case_index, "task": s.task, "job": s.job["state"],
                "percent": s.job["percent"], "outputs_shown": s.outputs_shown, "scene_revision": s.scene_revision,
                "heatmap_peak": s.heatmap_peak, "slice_info": s.slice_info, "focus_control": s.focus_control,
                "controls": [{k: c[k] for k in ("schema", "target", "kind", "current")} for c in s.controls],
                "cmb_points": len(s.cmb_points), "message": s.message}

    def _publish(self) -> None:
        self.state.status_text = json.dumps(to_plain(self._status()))

    def _refresh_case_list(self) -> None:
        done = set()
        for case in self.session.cases:
            if self.session.is_done(case):
                done.add(case.case_id)
        items = []
        for i, case in enumerate(self.session.cases):
            try:
                task = self.session.task_of(case)
            except Exception:  # a case without a task: listed, not loadable
                task = "?"
            items.append({"id": case.case_id, "index": i, "task": task, "done": case.case_id in done})
        self.state.cases = items
        p = self.session.progress()
        self.state.progress_text = f"{p['done']} done · {p['remaining']} remaining · {p['total']} cases"

    def _refresh_controls(self) -> None:
        n_slices = None
        ref = self.loaded.get("reference")
        if ref is not None and ref.GetImageData() is not None:
            n_slices = ref.GetImageData().GetDimensions()[2]
        self.controls = self.session.controls(n_slices=n_slices)
        self.state.controls = controls_state(self.controls)
        if self.state.focus_control >= len(self.controls):
            self.state.focus_control = 0

    # ------------------------------------------------------------------ scene
    def load_current_case(self, *, reset_views: bool = False) -> None:
        """(Re)load the case under the cursor into the scene: inputs, and overlays when the reader may see them."""
        case = self.session.current
        scene = self.slicer.scene
        started = time.perf_counter()
        clear_case(scene)
        self.loaded = {}
        with self.state:
            if case is None:
                self.state.case_id, self.state.message = "", "the case list is empty"
                self._publish()
                return
            try:
                self.loaded = load_case(scene, self.session, case)
            except Exception as exc:  # an unreadable case: say so and stay usable (next/previous still work)
                logger.warning("cannot load case %d: %s", self.session.cases.index, exc)
                clear_case(scene)
                self.state.case_id, self.state.case_index = case.case_id, self.session.cases.index
                self.state.message = f"cannot load this case: {exc}"
                self.controls, self.state.controls = [], []
                self._publish()
                return
            reference = self.loaded["reference"]
            if self.volume_rendering:
                overlays.show_in_3d(self.slicer, reference)
            else:
                for view in self.slicer.view_manager.get_slice_views():
                    view.set_visible_in_3d(True)
            result = self.loaded["result"]
            shown = bool(self.loaded.get("shown"))
            nodes = self.loaded.get("overlays") or {}
            if shown and nodes.get("markups") is not None:
                overlays.label_cmb_confidences(nodes["markups"])
            overlays.set_overlay_opacity(scene, self.state.overlay_opacity if self.state.overlay_visible else 0.0)
            if reset_views:
                self.slicer.display_manager.reset_views()
            self.state.case_id = case.case_id
            self.state.case_index = self.session.cases.index
            self.state.task = self.loaded["task"]
            self.state.result_exists = result is not None
            self.state.outputs_shown = shown
            self.state.cmb_points = self._cmb_points(result) if shown else []
            self.state.summary = self._summary(result) if shown else ("hidden until you label this case (blind mode)"
                                                                       if result is not None else "")
            self.state.model_line = self._model_line(result) if shown else ""
            self.state.notices = list((result or {}).get("notices") or []) if shown else []
            self._refresh_controls()
            self._refresh_case_list()
            self.state.scene_revision += 1
            self.update_slice_info()
            self._publish()
        logger.info("case %d loaded into the scene in %.2f s", self.session.cases.index, time.perf_counter() - started)
        for view in self.slicer.view_manager.get_views():
            view.schedule_render()

    @staticmethod
    def _cmb_points(result: dict[str, Any] | None) -> list[dict[str, Any]]:
        dets = ((result or {}).get("outputs") or {}).get("detections") or []
        return [{"label": d["label"], "confidence": round(float(d["confidence"]), 3),
                 "location": d.get("location", ""), "ras": [round(float(v), 1) for v in d["center_ras"]]}
                for d in dets]

    @staticmethod
    def _model_line(result: dict[str, Any] | None) -> str:
        """Which model produced the result on screen; a demo bundle says it is not for clinical use."""
        bundle = (result or {}).get("bundle") or {}
        if not bundle:
            return ""
        line = f"model {bundle.get('name', '?')} {bundle.get('version', '')}".rstrip()
        return f"{line} — demo, not for clinical use" if bundle.get("demo") else line

    @staticmethod
    def _summary(result: dict[str, Any] | None) -> str:
        if not result:
            return ""
        out = result.get("outputs") or {}
        task = result.get("task")
        if task == "mri_triage":
            probs = out.get("probabilities") or {}
            return ", ".join(f"{k} {float(v):.2f}" for k, v in probs.items())
        if task == "cmb_detect":
            return f"{out.get('n_detections', len(out.get('detections') or []))} microbleed(s) detected"
        if task == "lge_certainty":
            return f"{len(out.get('slices') or [])} slices rated"
        if task == "body_region":
            return ", ".join(f"{r['region']} {min(r['index_range'])}-{max(r['index_range'])}"
                             for r in out.get("ranges") or [])
        return ""

    def _observe_axial_slice(self) -> None:
        from vtkmodules.vtkCommonCore import vtkCommand

        from radtriage.mrml import get_slice_logic

        node = get_slice_logic(self.slicer.app_logic, overlays.AXIAL).GetSliceNode()

        def on_modified(*_: Any) -> None:
            with self.state:
                self.update_slice_info()

        node.AddObserver(vtkCommand.ModifiedEvent, on_modified)

    def update_slice_info(self) -> None:
        """Recompute what the panel says about the axial slice on screen (region, LGE score, heatmap peak)."""
        reference = self.loaded.get("reference")
        if reference is None:
            return
        app_logic = self.slicer.app_logic
        k = overlays.current_slice_index(app_logic, reference)
        outputs = None
        if self.state.outputs_shown:
            outputs = (self.loaded.get("result") or {}).get("outputs")  # read once, when the case was loaded
        info = current_slice_info(self.state.task, outputs, k, overlays.slice_plane(app_logic))
        peak = None
        if self.state.outputs_shown and self.state.task == "mri_triage":
            peak = overlays.heatmap_peak_on_slice(app_logic, overlays.shown_heatmap(self.slicer.scene),
                                                  HEATMAP_THRESHOLD)
        if info != self.state.slice_info or peak != self.state.heatmap_peak:
            self.state.slice_info = to_plain(info)
            self.state.heatmap_peak = to_plain(peak)
            self._publish()

    def _on_opacity(self, overlay_opacity: float, overlay_visible: bool, **_: Any) -> None:
        overlays.set_overlay_opacity(self.slicer.scene, float(overlay_opacity) if overlay_visible else 0.0)
        for view in self.slicer.view_manager.get_slice_views():
            view.schedule_render()

    # ------------------------------------------------------------------ navigation
    def go_to(self, case_id: str) -> None:
        """Open the case ``case_id``."""
        self.session.go_to(case_id)
        self.state.focus_control = 0
        self.load_current_case(reset_views=True)

    def next_case(self) -> None:
        """Open the next case (stays on the last one)."""
        if self.session.next() is not None:
            self.state.focus_control = 0
            self.load_current_case(reset_views=True)

    def previous_case(self) -> None:
        """Open the previous case (stays on the first one)."""
        if self.session.previous() is not None:
            self.state.focus_control = 0
            self.load_current_case(reset_views=True)

    def focus(self, index: int) -> None:
        """Focus label control ``index`` (digits then apply to it)."""
        if self.controls:
            self.state.focus_control = int(index) % len(self.controls)
            self._publish()

    # ------------------------------------------------------------------ labels
    def commit_control(self, index: int, value: Any) -> None:
        """Commit the reader's ``value`` on control ``index`` for the current case (one submission)."""
        case = self.session.current
        if case is None:
            return
        was_visible = self.session.outputs_visible(case)
        try:
            self.session.commit([label_for(self.controls, int(index), value)], case)
        except Exception as exc:  # a value the store refuses: say so, change nothing
            logger.warning("label not committed: %s", exc)
            with self.state:
                self.state.message = f"not saved: {exc}"
                self._publish()
            return
        with self.state:
            self.state.message = f"saved {self.controls[int(index)].schema} = {value}"
            if not was_visible and self.session.outputs_visible(case):
                self.load_current_case()  # blind mode: the outputs appear once the reader has committed
            else:
                self._refresh_controls()
                self._refresh_case_list()
            self._publish()

    def on_key(self, key: str) -> None:
        """A key pressed on the page (outside text fields): navigation, run, focus, or a digit for the focused one."""
        found = action_for_key(str(key))
        if found is None:
            return
        action, digit = found
        if action == "next":
            self.next_case()
        elif action == "previous":
            self.previous_case()
        elif action == "run":
            self.run_task()
        elif action in ("focus_next", "focus_previous"):
            self.focus(self.state.focus_control + (1 if action == "focus_next" else -1))
        elif action == "toggle_overlay":
            self.state.overlay_visible = not self.state.overlay_visible
        elif action == "digit" and self.controls and digit is not None:
            index = self.state.focus_control
            value = value_for_digit(self.state.controls[index], digit)
            if value is not None:
                self.commit_control(index, value)

    # ------------------------------------------------------------------ task runs
    def run_task(self) -> None:
        """Run the current case's task in a child process; the progress bar follows it; overlays load at the end."""
        case = self.session.current
        if case is None or (self.job is not None and self.job.status.running):
            return
        job = TaskJob(case.case_id, self.session.task_of(case), self.session.inputs(case),
                      self.session.result_folder(case), device=self.device)
        self.job = job
        with self.state:
            self.state.job = job.start().to_state()
            self._publish()
        create_task(self._follow(job))

    async def _follow(self, job: TaskJob) -> None:
        while True:
            status = job.poll()
            with self.state:
                self.state.job = status.to_state()
                self._publish()
            if status.state not in ("running", "pending"):
                break
            await asyncio.sleep(POLL_S)
        if status.state == "succeeded" and self.state.case_id == job.case_id:
            self.load_current_case()
        elif status.state != "succeeded":
            logger.warning("task run failed: %s", status.error[-300:])
        with self.state:
            self._publish()

    def shutdown(self) -> None:
        """Stop a running task (called when the server stops)."""
        if self.job is not None and self.job.status.running:
            self.job.cancel()
