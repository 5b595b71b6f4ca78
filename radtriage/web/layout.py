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
    " if (t && t.closest && t.closest('input,textarea,select,[contenteditable=true],[role=slider],.v-slider')) return;"
    " trigger('rt_key', [e.key]);"
    " if (['ArrowLeft','ArrowRight','PageUp','PageDown'].includes(e.key)) e.preventDefault();"
    " })"
)
"""Page-wide shortcuts: every key outside text fields and sliders goes to the server (radtriage.web.keys
decides); on a focused slider the arrows move the slider, Enter commits it."""

VIEW_TEXT = "position: absolute; color: #ffeb3b; font: 12px monospace; text-shadow: 0 0 2px #000; pointer-events: none;"


def _view_marker(view_id: str) -> None:
    html.Div(id=f"rt-view-{view_id}", classes="rt-view-marker", style="display:none")


def _orientation_letters(tag: str) -> None:
    """Letters at the view's edges and its slice number and position (from the server's slice_info)."""
    info = f"slice_info.views && slice_info.views.{tag}"
    with html.Div(v_if=(info,), classes="rt-orientation", id=f"rt-letters-{tag}"):
        html.Div(f"{{{{ slice_info.views.{tag}.left }}}}", style=VIEW_TEXT + "left: 4px; top: 50%;")
        html.Div(f"{{{{ slice_info.views.{tag}.right }}}}", style=VIEW_TEXT + "right: 40px; top: 50%;")
        html.Div(f"{{{{ slice_info.views.{tag}.top }}}}", style=VIEW_TEXT + "left: 50%; top: 4px;")
        html.Div(f"{{{{ slice_info.views.{tag}.slice ? 'slice ' + slice_info.views.{tag}.slice + '/' + "
                 f"slice_info.views.{tag}.of : 'between slices' }}}} · {{{{ slice_info.views.{tag}.offset_mm }}}} mm",
                 style=VIEW_TEXT + "left: 4px; bottom: 28px;", id=f"rt-position-{tag}")
        html.Div("{{ slice_info.text }}", v_if=(f"slice_info.view === '{tag}' && slice_info.lge_slice !== undefined",),
                 style=VIEW_TEXT + "left: 40px; top: 8px;", id=f"rt-score-{tag}")


def slice_view_gutter(server: Any, view_id: str, view: Any) -> None:
    """trame-slicer's slice view gutter (reset, slice slider), orientation letters and slice position, and a
    marker naming the view (Red/Green/Yellow)."""
    from trame_slicer.app.ui import create_vertical_slice_view_gutter_ui

    create_vertical_slice_view_gutter_ui(server, view_id, view)
    _orientation_letters(view.get_singleton_tag())
    _view_marker(view.get_singleton_tag())


def threed_view_gutter(server: Any, view_id: str, view: Any) -> None:
    """trame-slicer's 3D view gutter plus a marker naming the view."""
    from trame_slicer.app.ui import create_vertical_view_gutter_ui

    create_vertical_view_gutter_ui(server, view_id, view)
    _view_marker(view.get_singleton_tag())


def _toolbar() -> None:
    """Case title, navigation and what the views show: series, window/level preset, heatmap."""
    html.Div("{{ case_id }} · {{ task }}", classes="text-body-2 ml-4 mr-2 text-truncate", id="rt-case-title",
             style="max-width: 260px")
    v.VBtn(icon="mdi-chevron-left", size="small", click="trigger('rt_previous')", id="rt-previous", title="previous")
    v.VBtn(icon="mdi-chevron-right", size="small", click="trigger('rt_next')", id="rt-next", title="next case")
    v.VSpacer()
    common = {"density": "compact", "hide_details": True, "variant": "outlined", "classes": "mx-1"}
    v.VSelect(label="Series", v_model=("background",), items=("backgrounds",), style="max-width: 190px",
              id="rt-background", **common)
    v.VSelect(label="Window/level", v_model=("wl_preset",),
              items=("wl_preset === 'custom' ? [...wl_presets, 'custom'] : wl_presets",), style="max-width: 150px",
              id="rt-wl", **common)
    html.Div("{{ wl_text }}", classes="text-caption mx-1", id="rt-wl-text", style="min-width: 90px")
    v.VSelect(label="Heatmap", v_model=("heatmap",), items=("heatmaps",), v_if="heatmaps.length",
              style="max-width: 190px", id="rt-heatmap", **common)


def _case_header(reader_id: str) -> None:
    # the reader id is written into the page once, not bound to state a client could change
    html.Div(f"Reader {reader_id}" + "{{ blind ? ' · blind mode' : '' }} · {{ progress_text }}",
             classes="text-caption px-3 pt-1", id="rt-progress")
    with html.Div(classes="d-flex align-center px-3 ga-2"):
        v.VBtn("Run {{ task }}", color="primary", size="small", click="trigger('rt_run')",
               disabled=("job.running || !case_id",), id="rt-run")
        v.VProgressLinear(model_value=("job.percent",), height=14, color="primary", id="rt-job-bar",
                          indeterminate=("job.running && job.percent === 0",))
    html.Div("{{ job.message }}{{ job.error ? ' — ' + job.error : '' }}", classes="text-caption px-3",
             id="rt-job-message")
    html.Div("{{ summary }}", classes="text-body-2 px-3", id="rt-summary")


def _rating(c: str = "c") -> None:
    """A 0-100 slider that commits only on its button or Enter (never by itself; arrows move it)."""
    draft = f"(drafts[{c}.key] ?? {c}.current)"
    commit = f"drafts[{c}.key] !== undefined && trigger('rt_commit', [{c}.index, drafts[{c}.key]])"
    with html.Div(v_if=f"{c}.kind === 'rating'", classes="d-flex align-center ga-1", keydown_enter=commit,
                  __events=[("keydown_enter", "keydown.enter")]):
        v.VSlider(model_value=(f"{draft} ?? 0",), min=0, max=100, step=1, density="compact", hide_details=True,
                  thumb_label=True, color=(f"{draft} === null ? 'grey' : 'primary'",),
                  update_modelValue=f"drafts = {{...drafts, [{c}.key]: $event}}", classes="rt-rating")
        v.VBtn("{{ drafts[" + c + ".key] ?? '–' }} ✓", size="x-small", disabled=(f"drafts[{c}.key] === undefined",),
               click=commit, classes="rt-rating-commit",
               title="commit this rating (or Enter on the slider)")


def _label_panel() -> None:
    with html.Div(classes="px-3 pb-1", id="rt-labels"):
        with html.Div(classes="d-flex align-center"):
            html.Div("Labels", classes="text-subtitle-2")
            v.VSpacer()
            html.Div("typed {{ pending_digit }}…", v_if="pending_digit !== null", classes="text-caption mr-2",
                     id="rt-pending-digit")
            v.VBtn("{{ add_mode ? 'click in a slice view…' : 'Add missed' }}", v_if="task === 'cmb_detect'",
                   size="x-small", color=("add_mode ? 'warning' : undefined",), prepend_icon="mdi-plus-circle-outline",
                   click="trigger('rt_add_mode', [!add_mode])", id="rt-add-cmb", classes="mr-1",
                   title="add a missed microbleed: then click it in a slice view")
            v.VBtn("Undo", size="x-small", prepend_icon="mdi-undo", disabled=("!can_undo",),
                   click="trigger('rt_undo')", id="rt-undo", title="undo my last commit on this case (u)")
        html.Div("{{ message }}", classes="text-caption text-info", id="rt-message")
        with html.Div(v_for="c in controls", key="c.key", classes="mb-1 pa-1 rounded",
                      style=("c.index === focus_control ? 'outline: 2px solid #2196f3' : ''",),
                      click="trigger('rt_focus', [c.index])"):
            with html.Div(classes="d-flex text-body-2"):
                html.Div("{{ c.title }}")
                v.VSpacer()
                html.Div("yours: {{ c.current_text }}", classes="text-caption")
            html.Div("model: {{ c.suggestion_text }}", v_if="c.suggestion_text", classes="text-caption")
            with html.Div(v_if="c.kind !== 'rating'", classes="d-flex flex-wrap ga-1"):
                v.VBtn("{{ i + 1 }} {{ choice }}", v_for="(choice, i) in c.choices", key="choice", size="x-small",
                       color=("(c.kind === 'multilabel' ? (c.current || []).includes(choice) : c.current === choice)"
                              " ? 'primary' : undefined",),
                       style=("c.kind === 'region' && region_legend[i] ? "
                              "'border-left: 6px solid ' + region_legend[i].colour : ''",),
                       click=("trigger('rt_commit', [c.index, c.kind === 'multilabel' ? "
                              "((c.current || []).includes(choice) ? (c.current || []).filter(x => x !== choice) : "
                              "[...(c.current || []), choice]) : choice])"))
            _rating()


def _findings_panel() -> None:
    v.VDivider(classes="my-1")
    with html.Div(classes="px-3"):
        with html.Div(classes="d-flex align-center ga-2"):
            v.VSwitch(v_model=("overlay_visible",), label="Overlay", density="compact", hide_details=True,
                      disabled=("!outputs_shown",))
            v.VSlider(v_model=("overlay_opacity",), min=0, max=1, step=0.05, density="compact",
                      hide_details=True, disabled=("!outputs_shown || !overlay_visible",), id="rt-opacity")
        with html.Div(v_if="colour_bar", id="rt-colour-bar", classes="mb-1"):
            html.Div("{{ (heatmaps.find(h => h.value === heatmap) || {}).title }} probability (fixed 0–1; "
                     "below {{ colour_bar.threshold }} transparent)", classes="text-caption", id="rt-heatmap-name")
            html.Div(style=("'height: 10px; border-radius: 2px; background: ' + colour_bar.gradient",))
            with html.Div(classes="d-flex justify-space-between text-caption"):
                html.Span("{{ t }}", v_for="t in colour_bar.ticks", key="t")
        html.Div("{{ slice_info.text }}", classes="text-body-2", id="rt-slice-info")
        html.Div("Heatmap peak on this slice: {{ heatmap_peak.value.toFixed(2) }}", v_if="heatmap_peak",
                 classes="text-caption")
        html.Div("Crosshair at R {{ crosshair[0] }}, A {{ crosshair[1] }}, S {{ crosshair[2] }} mm (shift+click)",
                 v_if="crosshair", classes="text-caption", id="rt-crosshair")
        with html.Div(v_if="cmb_points.length", classes="text-caption", id="rt-cmb-list"):
            html.Div("{{ p.label }} · confidence {{ p.confidence.toFixed(2) }} · {{ p.location }}",
                     v_for="p in cmb_points", key="p.label", style="cursor: pointer",
                     click="trigger('rt_jump', [p.ras])", classes="rt-cmb-row")
        with (
            html.Div(v_if="region_legend.length", classes="d-flex flex-wrap text-caption", id="rt-legend"),
            html.Div(v_for="(r, i) in region_legend", key="r.name", classes="mr-2"),
        ):
                html.Span(style=("'display:inline-block;width:10px;height:10px;background:' + r.colour",))
                html.Span(" {{ i + 1 }} {{ r.name }}")
        html.Div("{{ model_line }}", classes="text-caption text-warning", id="rt-model")
        html.Div("{{ n }}", v_for="(n, i) in notices", key="i", classes="text-caption text-warning", id="rt-notices")


def _worklist_panel() -> None:
    with html.Div(classes="px-2"):
        with html.Div(classes="d-flex ga-1 py-1"):
            v.VSelect(label="Sort", v_model=("worklist_sort",), items=("worklist_sorts",), density="compact",
                      hide_details=True, id="rt-worklist-sort")
            v.VSelect(label="Show", v_model=("worklist_filter",), items=("worklist_filters",), density="compact",
                      hide_details=True, id="rt-worklist-filter")
        with (
            v.VList(density="compact", classes="py-0", id="rt-cases"),
            v.VListItem(v_for="c in worklist", key="c.id", active=("c.id === case_id",),
                        click="trigger('rt_go_to', [c.id]); drawer_tab = 'read'"),
        ):
            with v.VListItemTitle():
                html.Span("CRITICAL ", v_if="c.critical", classes="text-error font-weight-bold")
                html.Span("{{ c.index + 1 }}. {{ c.id }}")
            v.VListItemSubtitle("{{ c.task }} · {{ c.status }}"
                                "{{ c.probability !== null ? ' · p ' + c.probability.toFixed(2) : '' }}"
                                "{{ c.hidden ? ' · urgency hidden (blind)' : '' }}")
        with html.Div(v_if="skipped_cases.length", classes="text-caption text-warning pa-2", id="rt-skipped"):
            html.Div("Left out of the list ({{ skipped_cases.length }}):")
            html.Div("{{ s.id }}: {{ s.reason }}", v_for="s in skipped_cases", key="s.id")


def _node_panel() -> None:
    """The DICOM node's live worklist (``serve --node-worklist``): ranked as the node ranks, read-only."""
    with html.Div(classes="px-2", id="rt-node"):
        html.Div("Updated {{ node_updated || '-' }}"
                 "{{ node_rejected ? ' · ' + node_rejected + ' instances refused' : '' }}",
                 classes="text-caption py-1", id="rt-node-updated")
        html.Div("{{ node_message }}", v_if="node_message", classes="text-caption text-warning", id="rt-node-message")
        with (
            v.VList(density="compact", classes="py-0", id="rt-node-studies"),
            v.VListItem(v_for="r in node_rows", key="r.key"),
        ):
            with v.VListItemTitle():
                html.Span("CRITICAL ", v_if="r.critical", classes="text-error font-weight-bold")
                html.Span("{{ r.rank }}. {{ r.study }}{{ r.slice ? ' (slice)' : '' }} ")
                v.VChip("{{ r.status }}", color=("r.colour",), size="x-small", label=True)
            v.VListItemSubtitle("arrived {{ r.arrival || '-' }} · result {{ r.result_time || '-' }}"
                                "{{ r.wait_s !== null ? ' · ' + r.wait_s + ' s after the last instance' : '' }}"
                                "{{ r.probability !== null ? ' · p ' + r.probability.toFixed(2) : '' }}")
            html.Div("{{ t }}", v_for="(t, i) in r.tasks", key="i", classes="text-caption")
            html.Div("{{ r.error }}", v_if="r.error", classes="text-caption text-error")


def _shortcut_help() -> None:
    with html.Div(classes="px-3 pb-4 text-caption"):
        for key, what in SHORTCUT_HELP:
            html.Div(f"{key}: {what}")


def build_ui(station: Any, title: str) -> Any:
    """Build the page for a :class:`~radtriage.web.app.ReviewStation`; returns the trame layout."""
    with SinglePageWithDrawerLayout(station.server, width=360) as layout:
        layout.root.theme = "dark"
        layout.title.set_text(title)
        layout.title.style = "flex: 0 0 auto"
        layout.footer.hide()
        client.ClientTriggers(mounted=KEY_LISTENER)
        with layout.toolbar:
            layout.toolbar.density = "compact"
            _toolbar()
        with layout.drawer:
            with v.VTabs(v_model=("drawer_tab",), density="compact", grow=True):
                v.VTab("Read", value="read", id="rt-tab-read")
                v.VTab("Worklist", value="worklist", id="rt-tab-worklist")
                v.VTab("Node", value="node", v_if="node_enabled", id="rt-tab-node")
                v.VTab("Keys", value="keys")
            with v.VWindow(v_model=("drawer_tab",)):
                with v.VWindowItem(value="read"):
                    _case_header(station.session.reader_id)
                    _label_panel()
                    _findings_panel()
                with v.VWindowItem(value="worklist"):
                    _worklist_panel()
                with v.VWindowItem(value="node"):
                    _node_panel()
                with v.VWindowItem(value="keys"):
                    _shortcut_help()
        with layout.content:
            html.Pre("{{ status_text }}", id="rt-status", style="display:none")
            with html.Div(classes="fill-height d-flex flex-row flex-grow-1",
                          style="height: calc(100vh - 48px); min-height: 300px;"):
                station.layout_manager.initialize_layout_grid(layout)
    return layout
