"""The page: a drawer with the case list, task run + progress, overlay controls and the label panel, and the
view grid (axial, coronal, sagittal, 3D) streamed by trame-slicer; plus the page-wide keyboard shortcuts."""

from __future__ import annotations

from typing import Any

from trame.ui.vuetify3 import SinglePageWithDrawerLayout
from trame.widgets import client, html
from trame.widgets import vuetify3 as v
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

from radtriage.web.keys import SHORTCUT_HELP

REVIEW_LAYOUT = Layout(
    LayoutDirection.Horizontal,
    [
        Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view()]),
        Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.threed_view(), ViewLayoutDefinition.sagittal_view()]),
    ],
)
"""Axial and coronal on the left, 3D and sagittal on the right."""

KEY_LISTENER = (
    "window.addEventListener('keydown', (e) => {"
    " if (e.ctrlKey || e.metaKey || e.altKey) return;"
    " const t = e.target;"
    " if (t && t.closest && t.closest('input,textarea,select,[contenteditable=true]')) return;"
    " trigger('rt_key', [e.key]);"
    " if (['ArrowLeft','ArrowRight','PageUp','PageDown'].includes(e.key)) e.preventDefault();"
    " })"
)
"""Page-wide shortcuts: every key outside text fields goes to the server (radtriage.web.keys decides)."""


def _view_marker(view_id: str) -> None:
    html.Div(id=f"rt-view-{view_id}", classes="rt-view-marker", style="display:none")


def slice_view_gutter(server: Any, view_id: str, view: Any) -> None:
    """trame-slicer's slice view gutter (reset, slice slider) plus a marker naming the view (Red/Green/Yellow)."""
    from trame_slicer.app.ui import create_vertical_slice_view_gutter_ui

    create_vertical_slice_view_gutter_ui(server, view_id, view)
    _view_marker(view.get_singleton_tag())


def threed_view_gutter(server: Any, view_id: str, view: Any) -> None:
    """trame-slicer's 3D view gutter plus a marker naming the view."""
    from trame_slicer.app.ui import create_vertical_view_gutter_ui

    create_vertical_view_gutter_ui(server, view_id, view)
    _view_marker(view.get_singleton_tag())


def _case_panel() -> None:
    html.Div("Reader {{ reader_id }}{{ blind ? ' · blind mode' : '' }}", classes="text-caption px-3 pt-2")
    html.Div("{{ progress_text }}", classes="text-caption px-3", id="rt-progress")
    with (
        v.VList(density="compact", classes="py-0", id="rt-cases"),
        v.VListItem(v_for="c in cases", key="c.id", active=("c.id === case_id",), click="trigger('rt_go_to', [c.id])"),
    ):
        v.VListItemTitle("{{ c.index + 1 }}. {{ c.id }}")
        v.VListItemSubtitle("{{ c.task }}{{ c.done ? ' · labelled' : '' }}")
    with html.Div(classes="d-flex px-2 ga-2"):
        v.VBtn("Previous", size="small", prepend_icon="mdi-chevron-left", click="trigger('rt_previous')",
               id="rt-previous")
        v.VBtn("Next", size="small", append_icon="mdi-chevron-right", click="trigger('rt_next')", id="rt-next")


def _task_panel() -> None:
    v.VDivider(classes="my-2")
    with html.Div(classes="px-3"):
        v.VBtn("Run {{ task }}", color="primary", size="small", block=True, click="trigger('rt_run')",
               disabled=("job.running || !case_id",), id="rt-run")
        v.VProgressLinear(model_value=("job.percent",), height=14, classes="mt-2", color="primary", id="rt-job-bar",
                          indeterminate=("job.running && job.percent === 0",))
        html.Div("{{ job.message }}{{ job.error ? ' — ' + job.error : '' }}", classes="text-caption",
                 id="rt-job-message")
        html.Div("{{ summary }}", classes="text-body-2 mt-1", id="rt-summary")
        html.Div("{{ model_line }}", classes="text-caption text-warning", id="rt-model")
        html.Div("{{ n }}", v_for="(n, i) in notices", key="i", classes="text-caption text-warning", id="rt-notices")


def _overlay_panel() -> None:
    v.VDivider(classes="my-2")
    with html.Div(classes="px-3"):
        v.VSwitch(v_model=("overlay_visible",), label="Overlay", density="compact", hide_details=True,
                  disabled=("!outputs_shown",))
        v.VSlider(v_model=("overlay_opacity",), min=0, max=1, step=0.05, label="Opacity", density="compact",
                  hide_details=True, disabled=("!outputs_shown || !overlay_visible",), id="rt-opacity")
        html.Div("{{ slice_info.text }}", classes="text-body-2", id="rt-slice-info")
        html.Div("Heatmap peak on this slice: {{ heatmap_peak.value.toFixed(2) }}", v_if="heatmap_peak",
                 classes="text-caption")
        with html.Div(v_if="cmb_points.length", classes="text-caption", id="rt-cmb-list"):
            html.Div("{{ p.label }} · confidence {{ p.confidence.toFixed(2) }} · {{ p.location }}",
                     v_for="p in cmb_points", key="p.label")


def _label_panel() -> None:
    v.VDivider(classes="my-2")
    with html.Div(classes="px-3 pb-2", id="rt-labels"):
        html.Div("Labels", classes="text-subtitle-2")
        with html.Div(v_for="c in controls", key="c.key", classes="mb-2 pa-1 rounded",
                      style=("c.index === focus_control ? 'outline: 2px solid #2196f3' : ''",),
                      click="trigger('rt_focus', [c.index])"):
            html.Div("{{ c.title }}", classes="text-body-2")
            html.Div("model: {{ c.suggestion_text }}", v_if="c.suggestion_text", classes="text-caption")
            with html.Div(v_if="c.kind !== 'rating'", classes="d-flex flex-wrap ga-1"):
                v.VBtn("{{ i + 1 }} {{ choice }}", v_for="(choice, i) in c.choices", key="choice", size="x-small",
                       color=("(c.kind === 'multilabel' ? (c.current || []).includes(choice) : c.current === choice)"
                              " ? 'primary' : undefined",),
                       click=("trigger('rt_commit', [c.index, c.kind === 'multilabel' ? "
                              "((c.current || []).includes(choice) ? (c.current || []).filter(x => x !== choice) : "
                              "[...(c.current || []), choice]) : choice])"))
            v.VSlider(v_if="c.kind === 'rating'", model_value=("c.current === null ? 50 : c.current",), min=0, max=100,
                      step=1, density="compact", hide_details=True, thumb_label=True,
                      end="trigger('rt_commit', [c.index, $event])")
            html.Div("yours: {{ c.current_text }}", classes="text-caption")
        html.Div("{{ message }}", classes="text-caption", id="rt-message")


def _shortcut_help() -> None:
    v.VDivider(classes="my-2")
    with html.Div(classes="px-3 pb-4 text-caption"):
        for key, what in SHORTCUT_HELP:
            html.Div(f"{key}: {what}")


def build_ui(station: Any, title: str) -> Any:
    """Build the page for a :class:`~radtriage.web.app.ReviewStation`; returns the trame layout."""
    with SinglePageWithDrawerLayout(station.server, width=360) as layout:
        layout.root.theme = "dark"
        layout.title.set_text(title)
        client.ClientTriggers(mounted=KEY_LISTENER)
        with layout.toolbar:
            v.VSpacer()
            html.Div("{{ case_id }} · {{ task }}", classes="text-body-2 mr-4", id="rt-case-title")
        with layout.drawer:
            _case_panel()
            _task_panel()
            _overlay_panel()
            _label_panel()
            _shortcut_help()
        with layout.content:
            html.Pre("{{ status_text }}", id="rt-status", style="display:none")
            with html.Div(classes="fill-height d-flex flex-row flex-grow-1",
                          style="height: calc(100vh - 64px); min-height: 400px;"):
                station.layout_manager.initialize_layout_grid(layout)
    return layout
