"""The web review station: one :class:`ReviewStation` per server — a trame-slicer scene with slice and 3D views,
a :class:`~radtriage.review.ReviewSession` (case list, annotation store, reader, blind mode), task runs in a
child process with a progress bar, overlays from the task modules' MRML builders and the label panel.

Everything that touches the scene runs on the server's event loop; the only slow work (the task itself) runs in
``radtriage infer`` and is polled (:mod:`radtriage.web.jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trame_server.utils.asynchronous import create_task

from radtriage.review import ReviewSession, added_cmb_label
from radtriage.review.case_inputs import case_options
from radtriage.review.case_mrml import clear_case, load_case
from radtriage.review.mrml_views import jump_slices_to
from radtriage.web import layers, markers, worklist
from radtriage.web import overlay_mrml as overlays
from radtriage.web import window_level as wl
from radtriage.web.jobs import JobStatus, TaskJob
from radtriage.web.keys import TypeAhead, action_for_key, value_for_digit
from radtriage.web.labels import controls_state, describe_value, label_for, to_plain
from radtriage.web.node_worklist import NodeWorklistFollower
from radtriage.web.slice_info import current_slice_info

logger = logging.getLogger(__name__)

HEATMAP_THRESHOLD = 0.2
"""Heatmap values below this are transparent (the MRI task's MRML builder default)."""
POLL_S = 0.2
NODE_POLL_S = 1.0
"""How often the DICOM node's worklist file is checked for changes (one ``stat`` when unchanged)."""


class ReviewStation:
    """State, scene and actions of the web station (the UI is built by :func:`radtriage.web.layout.build_ui`)."""

    def __init__(self, server: Any, session: ReviewSession, *, device: str = "cpu", title: str = "RadTriage review",
                 volume_rendering: bool = False, node_worklist: Path | None = None):
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
        self._loading = False
        self.type_ahead = TypeAhead()
        self.window_level = wl.Follower(self._on_window_level)
        self._markers: Any | None = None
        self.node_worklist = NodeWorklistFollower(node_worklist) if node_worklist is not None else None
        server.enable_module(trame_slicer_module)
        self.slicer = SlicerApp()
        register_rca_factories(self.slicer.view_manager, server, slice_view_ui_f=slice_view_gutter,
                               three_d_view_ui_f=threed_view_gutter)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, server)
        self.layout_manager.register_layout("review", REVIEW_LAYOUT)
        self.layout_manager.set_layout("review")
        self._init_state(title)
        self._register_triggers()
        if self.node_worklist is not None:
            self._show_node_worklist()
            server.controller.add("on_server_ready")(self._start_following_node)
        build_ui(self, title)
        self._observe_slices()
        overlays.show_slice_intersections(self.slicer.scene, self.slicer.app_logic)
        wl.enable_drag(self.slicer.app_logic)
        self._observe_clicks()
        start = session.resume()
        if start is None and len(session.cases):
            session.cases.go_to(session.cases.ids[0])
        self.load_current_case(reset_views=True)

    # ------------------------------------------------------------------ state
    def _init_state(self, title: str) -> None:
        s = self.state
        s.trame__title = title
        s.blind = self.session.blind
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
        s.wl_presets = wl.preset_names()
        s.wl_preset = wl.AUTO
        s.wl_text = ""
        s.backgrounds = []
        s.background = ""
        s.heatmaps = []
        s.heatmap = ""
        s.colour_bar = None
        s.region_legend = []
        s.drafts = {}
        s.worklist = []
        s.skipped_cases = [{"id": k, "reason": why} for k, why in self.session.skipped_cases.items()]
        s.worklist_sort = "urgency" if not self.session.blind else "file"
        s.worklist_filter = "all"
        s.worklist_sorts = [{"value": k, "title": t} for k, t in worklist.SORTS.items()]
        s.worklist_filters = [{"value": k, "title": t} for k, t in worklist.FILTERS.items()]
        s.can_undo = False
        s.pending_digit = None
        s.add_mode = False
        s.crosshair = None
        s.drawer_tab = "read"
        s.node_enabled = self.node_worklist is not None
        s.node_rows, s.node_updated, s.node_message, s.node_rejected = [], "", "", 0
        self.state.change("overlay_opacity", "overlay_visible")(self._on_opacity)
        self.state.change("wl_preset")(self._on_wl_preset)
        self.state.change("background")(self._on_background)
        self.state.change("heatmap")(self._on_heatmap)
        self.state.change("worklist_sort", "worklist_filter")(self._on_worklist_view)

    def _register_triggers(self) -> None:
        trigger = self.server.trigger
        trigger("rt_key")(self.on_key)
        trigger("rt_commit")(self.commit_control)
        trigger("rt_go_to")(self.go_to)
        trigger("rt_next")(self.next_case)
        trigger("rt_previous")(self.previous_case)
        trigger("rt_run")(self.run_task)
        trigger("rt_focus")(self.focus)
        trigger("rt_undo")(self.undo)
        trigger("rt_jump")(self.jump_to)
        trigger("rt_add_mode")(self.set_add_mode)

    def _status(self) -> dict[str, Any]:
        """A compact summary of the page's state (a hidden element shows it; tests and scripts read it)."""
        s = self.state
        return {"case_id": s.case_id, "case_index": s.case_index, "task": s.task, "job": s.job["state"],
                "percent": s.job["percent"], "outputs_shown": s.outputs_shown, "scene_revision": s.scene_revision,
                "heatmap_peak": s.heatmap_peak, "slice_info": s.slice_info, "focus_control": s.focus_control,
                "controls": [{k: c[k] for k in ("schema", "target", "kind", "current")} for c in s.controls],
                "cmb_points": len(s.cmb_points), "message": s.message, "wl_preset": s.wl_preset,
                "window_level": self._window_level(), "background": s.background, "backgrounds": s.backgrounds,
                "heatmap": s.heatmap, "worklist": [r["id"] for r in s.worklist], "can_undo": s.can_undo,
                "pending_digit": s.pending_digit, "add_mode": s.add_mode, "crosshair": s.crosshair}

    def _publish(self, *, loaded: bool = False) -> None:
        """Write the status summary; while a case loads, only its end (``loaded``) does, so the page never sees
        the new case id with the previous case's controls (slice observers fire mid-load)."""
        if self._loading and not loaded:
            return
        self.state.status_text = json.dumps(to_plain(self._status()))

    def _refresh_case_list(self) -> None:
        shown = worklist.filter_rows(worklist.worklist_rows(self.session), self.state.worklist_filter)
        self.state.worklist = to_plain(worklist.sort_rows(shown, self.state.worklist_sort))
        case = self.session.current
        self.state.can_undo = bool(case is not None and self.session.last_commit(case))
        p = self.session.progress()
        self.state.progress_text = f"{p['done']} done · {p['remaining']} remaining · {p['total']} cases"

    def _on_worklist_view(self, **_: Any) -> None:
        self._refresh_case_list()
        self._publish()

    def _refresh_controls(self) -> None:
        n_slices = None
        ref = self.loaded.get("reference")
        if ref is not None and ref.GetImageData() is not None:
            n_slices = ref.GetImageData().GetDimensions()[2]
        self.controls = self.session.controls(n_slices=n_slices)
        self.state.controls = controls_state(self.controls)
        self.state.drafts = {}
        if self.state.task == "cmb_detect":
            points = markers.marker_points(self.controls, self.state.outputs_shown)
            self._markers = markers.show_markers(self.slicer.scene, points, self.state.case_id, self._markers)
        if self.state.focus_control >= len(self.controls):
            self.state.focus_control = 0

    # ------------------------------------------------------------------ scene
    @contextlib.contextmanager
    def _loading_case(self) -> Iterator[None]:
        """While a case loads, status updates wait for its end (see :meth:`_publish`)."""
        self._loading = True
        try:
            yield
        finally:
            self._loading = False

    def load_current_case(self, *, reset_views: bool = False, to_finding: bool = False) -> None:
        """(Re)load the case under the cursor into the scene: inputs, and overlays when the reader may see them.
        Opening another case clears what belonged to the previous one (message, drafts, its job's progress).
        ``to_finding`` (a run just finished): the slice views move through the shown heatmap's peak."""
        case = self.session.current
        scene = self.slicer.scene
        started = time.perf_counter()
        kept = self.state.background if case is not None and case.case_id == self.state.case_id else ""
        self.window_level.follow(None)
        clear_case(scene)
        self.loaded, self._markers = {}, None
        with self._loading_case(), self.state:
            if case is None or case.case_id != self.state.case_id:
                self.state.message = ""
                self.state.add_mode = False
                self.type_ahead.flush()
                self.state.pending_digit = None
            self.state.job = self._job_state(case.case_id if case is not None else "")
            if case is None:
                self.state.case_id, self.state.message = "", "the case list is empty"
                self._publish(loaded=True)
                return
            try:
                self.loaded = load_case(scene, self.session, case)
            except Exception as exc:  # an unreadable case: say so and stay usable (next/previous still work)
                logger.warning("cannot load case %d: %s", self.session.cases.index, exc)
                clear_case(scene)
                self.state.case_id, self.state.case_index = case.case_id, self.session.cases.index
                self.state.message = f"cannot load this case: {exc}"
                self.controls, self.state.controls = [], []
                self.state.backgrounds, self.state.background, self.state.heatmaps, self.state.heatmap = [], "", [], ""
                self.state.colour_bar, self.state.cmb_points, self.state.region_legend = None, [], []
                self._publish(loaded=True)
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
            self._show_layers(reference, nodes if shown else {}, kept)
            peak = overlays.heatmap_peak_ras(overlays.shown_heatmap(scene)) if shown and to_finding else None
            if peak is not None:
                jump_slices_to(scene, peak, centred=False)
            outputs = (result or {}).get("outputs")  # the label set's colours: no model read, shown in blind mode too
            self.state.region_legend = layers.region_legend(outputs) if self.state.task == "body_region" else []
            self.state.cmb_points = self._cmb_points(result) if shown else []
            self.state.summary = self._summary(result) if shown else ("hidden until you label this case (blind mode)"
                                                                       if result is not None else "")
            self.state.model_line = self._model_line(result) if shown else ""
            self.state.notices = list((result or {}).get("notices") or []) if shown else []
            self._refresh_controls()
            self._refresh_case_list()
            self.state.scene_revision += 1
            self.update_slice_info()
            self._publish(loaded=True)
        logger.info("case %d loaded into the scene in %.2f s", self.session.cases.index, time.perf_counter() - started)
        self._render_all()

    def _render_all(self) -> None:
        for view in self.slicer.view_manager.get_views():
            view.schedule_render()

    def _job_state(self, case_id: str) -> dict[str, Any]:
        """The progress bar for ``case_id``: its own job's status; idle when the last job ran on another case."""
        if self.job is not None and (self.job.case_id == case_id or self.job.status.running):
            return self.job.status.to_state()
        return JobStatus(case_id=case_id).to_state()

    # ------------------------------------------------------------------ layers, window/level
    def _show_layers(self, reference: Any, nodes: dict[str, Any], keep: str = "") -> None:
        """Background choices (every series of the case, each echo, the rated SAX reformat) with their
        window/level defaults, the heatmap picker and colour bar; the background ``keep`` stays when there is one
        (the same case reloaded after a run or a blind commit)."""
        task = self.loaded["task"]
        scene = self.slicer.scene
        backgrounds = layers.background_nodes(scene, self.loaded)
        for node in backgrounds.values():
            wl.apply_preset(node, wl.default_preset(node, task))
        self.loaded["backgrounds"] = backgrounds
        self.state.backgrounds = list(backgrounds)
        first = keep if keep in backgrounds else layers.first_shown(backgrounds, reference)
        layers.show_background(scene, backgrounds[first])
        if first == layers.SAX_REFORMAT:  # a 3D LGE: the sagittal view shows the rated short-axis slices
            overlays.show_stack_in(self.slicer.app_logic, backgrounds[first], overlays.STACK_VIEW)
        self.state.background = first
        heatmaps = nodes.get("heatmaps") or {}
        self.state.heatmaps = layers.heatmap_choices(heatmaps)
        self.state.heatmap = nodes.get("shown", "") if nodes.get("shown") in heatmaps else ""
        self.state.colour_bar = layers.colour_bar(scene, HEATMAP_THRESHOLD) if heatmaps else None
        self.window_level.follow(backgrounds[first], wl.default_preset(backgrounds[first], task))

    def _background_node(self) -> Any | None:
        return (self.loaded.get("backgrounds") or {}).get(self.state.background)

    def _window_level(self) -> list[float] | None:
        node = self._background_node()
        return [round(v, 1) for v in wl.window_level_of(node)] if node is not None else None

    def _on_window_level(self, preset: str, text: str) -> None:
        """The followed background's window/level changed (a preset, or a left-drag: ``custom``)."""
        with self.state:
            self.state.wl_preset, self.state.wl_text = preset, text
            self._publish()
        self._render_all()

    def _on_wl_preset(self, wl_preset: str, **_: Any) -> None:
        self.window_level.apply(wl_preset)

    def _on_background(self, background: str, **_: Any) -> None:
        node = self._background_node()
        if node is None:
            return
        layers.show_background(self.slicer.scene, node)
        if self.window_level.node is not node:
            self.window_level.follow(node, wl.default_preset(node, self.state.task))
        self._publish()
        self._render_all()

    def _on_heatmap(self, heatmap: str, **_: Any) -> None:
        heatmaps = ((self.loaded.get("overlays") or {}).get("heatmaps") or {}) if self.state.outputs_shown else {}
        if heatmap not in heatmaps:
            return
        layers.show_heatmap(self.slicer.scene, heatmaps[heatmap])
        self.update_slice_info()
        self._publish()
        self._render_all()

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
            from radtriage.models.output_requirements import probability_text

            return ", ".join(f"{f['output']} {probability_text(f, 2)}" for f in out.get("findings") or [])
        if task == "cmb_detect":
            return f"{out.get('n_detections', len(out.get('detections') or []))} microbleed(s) detected"
        if task == "lge_certainty":
            return f"{len(out.get('slices') or [])} slices rated"
        if task == "body_region":
            return ", ".join(f"{r['region']} {min(r['index_range'])}-{max(r['index_range'])}"
                             for r in out.get("ranges") or [])
        return ""

    def _observe_slices(self) -> None:
        """Every slice view's move updates what the panel says about the slices on screen."""
        from vtkmodules.vtkCommonCore import vtkCommand

        from radtriage.mrml import get_slice_logic

        def on_modified(*_: Any) -> None:
            with self.state:
                self.update_slice_info()

        for layout in overlays.SLICE_VIEWS:
            get_slice_logic(self.slicer.app_logic, layout).GetSliceNode().AddObserver(vtkCommand.ModifiedEvent,
                                                                                      on_modified)

    def update_slice_info(self) -> None:
        """Recompute what the panel says about the slices on screen: each view's slice number and position, the
        region of the axial slice, the LGE score of the view showing the rated short-axis slices, the heatmap
        peak."""
        reference = self.loaded.get("reference")
        if reference is None:
            return
        app_logic = self.slicer.app_logic
        layout = overlays.AXIAL
        rated = (self.loaded.get("overlays") or {}).get("sax_volume") or reference
        if self.state.task == "lge_certainty":
            layout = overlays.view_showing_stack(app_logic, rated) or overlays.AXIAL
        k = overlays.current_slice_index(app_logic, rated if self.state.task == "lge_certainty" else reference,
                                         layout)
        outputs = None
        if self.state.outputs_shown:
            outputs = (self.loaded.get("result") or {}).get("outputs")  # read once, when the case was loaded
        info = current_slice_info(self.state.task, outputs, k, overlays.slice_plane(app_logic, layout))
        info["view"] = layout
        info["views"] = overlays.views_info(app_logic, reference)
        peak = None
        if self.state.outputs_shown and self.state.task == "mri_triage":
            peak = overlays.heatmap_peak_on_slice(app_logic, overlays.shown_heatmap(self.slicer.scene),
                                                  HEATMAP_THRESHOLD)
        info, peak = to_plain(info), to_plain(peak)
        if self.state.task == "lge_certainty" and k is not None and k != self.state.slice_info.get("slice") \
                and k < len(self.controls):
            self.state.focus_control = k  # digits rate the short-axis slice on screen
        if info != self.state.slice_info or peak != self.state.heatmap_peak:
            self.state.slice_info = info
            self.state.heatmap_peak = peak
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
        """Focus label control ``index`` (digits then apply to it); a microbleed's control brings the views to it."""
        if self.controls:
            self.state.focus_control = int(index) % len(self.controls)
            ras = self.controls[self.state.focus_control].context.get("ras_mm")
            if ras is not None:
                self.jump_to(list(ras))
            self._publish()

    # ------------------------------------------------------------------ labels
    def commit_control(self, index: int, value: Any) -> None:
        """Commit the reader's ``value`` on control ``index`` for the current case (one submission)."""
        index = int(index)
        if not 0 <= index < len(self.controls):
            return
        self._commit([label_for(self.controls, index, value)],
                     f"saved {self.controls[index].title}: {describe_value(value)}")

    def _commit(self, labels: list[Any], saved: str) -> None:
        case = self.session.current
        if case is None:
            return
        was_visible = self.session.outputs_visible(case)
        try:
            self.session.commit(labels, case)
        except Exception as exc:  # a value the store refuses: say so, change nothing
            logger.warning("label not committed: %s", exc)
            with self.state:
                self.state.message = f"not saved: {exc}"
                self._publish()
            return
        self._after_labels(saved, reload=not was_visible and self.session.outputs_visible(case))

    def _after_labels(self, message: str, *, reload: bool) -> None:
        with self.state:
            self.state.message = message
            if reload:
                self.load_current_case()  # blind mode: the outputs appear once the reader has committed
            else:
                self._refresh_controls()
                self._refresh_case_list()
            self._publish()

    def undo(self) -> None:
        """Withdraw my last commit on this case (appended retractions: the history keeps both)."""
        case = self.session.current
        if case is None:
            return
        undone = self.session.undo_last_commit(case)
        if not undone:
            with self.state:
                self.state.message = "nothing to undo on this case"
                self._publish()
            return
        n = sum(len(sub.entries) for sub in undone)
        self._after_labels(f"undone: your last commit ({n} label{'s' if n != 1 else ''})",
                           reload=self.session.blind and not self.session.outputs_visible(case))

    def on_key(self, key: str) -> None:
        """A key pressed on the page (outside text fields): navigation, run, focus, undo, or digits for the
        focused control (two-digit type-ahead when it has more than nine options)."""
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
            self.flush_digits()
            self.focus(self.state.focus_control + (1 if action == "focus_next" else -1))
        elif action == "toggle_overlay":
            self.state.overlay_visible = not self.state.overlay_visible
        elif action == "undo":
            self.undo()
        elif action == "enter":
            self.flush_digits()
        elif action == "digit" and self.controls and digit is not None:
            self._digit(digit)

    def _digit(self, digit: int) -> None:
        control = self.state.controls[self.state.focus_control]
        n = len(control.get("choices") or ())
        number = digit if control["kind"] == "rating" else self.type_ahead.feed(digit, n, time.monotonic())
        if number is None:  # a first digit waiting for its second
            with self.state:
                self.state.pending_digit = digit
                self._publish()
            self._flush_later()
            return
        self.state.pending_digit = None
        self._apply_digit(number)

    def _apply_digit(self, number: int) -> None:
        index = self.state.focus_control
        value = value_for_digit(self.state.controls[index], number)
        if value is not None:
            self.commit_control(index, value)
        else:
            with self.state:
                self.state.message = f"no option {number} on this control"
                self._publish()

    def flush_digits(self) -> None:
        """Apply a first digit that waits for a second one on its own (Enter, the type-ahead timer)."""
        number = self.type_ahead.flush()
        if number is None:
            return
        with self.state:
            self.state.pending_digit = None
        self._apply_digit(number)

    def _flush_later(self) -> None:
        pending = (self.type_ahead.pending, self.type_ahead.since)

        async def later() -> None:
            await asyncio.sleep(self.type_ahead.timeout_s + 0.05)
            if (self.type_ahead.pending, self.type_ahead.since) == pending:
                self.flush_digits()

        create_task(later())  # without a running loop (a test driving the station) only Enter flushes

    # ------------------------------------------------------------------ microbleeds
    def jump_to(self, ras: list[float]) -> None:
        """Centre every slice view on ``ras`` (a CMB candidate clicked in the list)."""
        jump_slices_to(self.slicer.scene, ras)
        with self.state:
            self.update_slice_info()
        self._render_all()

    def set_add_mode(self, on: bool) -> None:
        """Arm (or disarm) 'add a missed microbleed': the next left click in a slice view adds one there."""
        with self.state:
            self.state.add_mode = bool(on) and self.state.task == "cmb_detect"
            self._publish()

    def place_crosshair(self, ras: list[float]) -> None:
        """Shift+click in a slice view: the crosshair at that point in every view, every slice view through it."""
        point = overlays.place_crosshair(self.slicer.scene, ras)
        with self.state:
            self.state.crosshair = [round(v, 1) for v in point]
            self.update_slice_info()
            self._publish()
        self._render_all()

    def _observe_clicks(self) -> None:
        """A left click in a slice view while 'add microbleed' is armed adds one at the clicked RAS point;
        Shift+click places the crosshair there."""
        from vtkmodules.vtkCommonCore import vtkCommand

        for view in self.slicer.view_manager.get_slice_views():
            layout = view.get_singleton_tag()
            interactor = view.interactor()

            def on_press(obj: Any, _event: str, layout: str = layout) -> None:
                if self.state.add_mode or obj.GetShiftKey():
                    x, y = obj.GetEventPosition()
                    ras = overlays.xy_to_ras(self.slicer.app_logic, layout, x, y)
                    if self.state.add_mode:
                        self.add_microbleed(ras)
                    else:
                        self.place_crosshair(ras)

            interactor.AddObserver(vtkCommand.LeftButtonPressEvent, on_press, 1.0)

    def add_microbleed(self, ras: list[float]) -> None:
        """Commit a missed microbleed at ``ras`` (RAS mm) on the current case: ``candidate:reader-N``, 'add'."""
        label = added_cmb_label(ras, [c.target for c in self.controls])
        self.state.add_mode = False
        self._commit([label], "added a microbleed at R {:.1f}, A {:.1f}, S {:.1f} mm".format(*ras))

    # ------------------------------------------------------------------ task runs
    def run_task(self) -> None:
        """Run the current case's task in a child process; the progress bar follows it; overlays load at the end."""
        case = self.session.current
        if case is None or (self.job is not None and self.job.status.running):
            return
        task = self.session.task_of(case)
        job = TaskJob(case.case_id, task, self.session.inputs(case), self.session.result_folder(case),
                      device=self.device, options=case_options(case, task))
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
            self.load_current_case(to_finding=True)
        elif status.state != "succeeded":
            logger.warning("task run failed: %s", status.error[-300:])
        with self.state:
            self._publish()

    # ------------------------------------------------------------------ the DICOM node's worklist
    def refresh_node_worklist(self) -> bool:
        """Show the node's worklist again if its file changed; True when the shown rows changed."""
        if self.node_worklist is None or not self.node_worklist.refresh():
            return False
        self._show_node_worklist()
        return True

    def _show_node_worklist(self) -> None:
        current = self.node_worklist.current
        with self.state:
            self.state.node_rows = to_plain(current.rows)
            self.state.node_updated = current.updated or ""
            self.state.node_message = current.message
            self.state.node_rejected = current.rejected

    def _start_following_node(self, **_: Any) -> None:
        create_task(self._follow_node())

    async def _follow_node(self) -> None:
        while True:
            self.refresh_node_worklist()
            await asyncio.sleep(NODE_POLL_S)

    def shutdown(self) -> None:
        """Stop a running task (called when the server stops)."""
        if self.job is not None and self.job.status.running:
            self.job.cancel()
