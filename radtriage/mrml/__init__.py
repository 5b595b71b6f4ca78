"""The MRML layer: Slicer scene nodes from and to the project's types, using only Slicer's MRML/logic classes.

Works on ``slicer.mrmlScene`` inside the Slicer application and on a scene from :func:`create_headless_scene`
(PyPI ``slicer-core``) outside it. Never imports ``slicer.util``, ``slicer.app``, Qt, CTK or trame.
"""

from __future__ import annotations

from radtriage.mrml.hierarchy import patient_and_study_of, place_under_study, subject_hierarchy
from radtriage.mrml.markups import Detection, add_detections, read_detections
from radtriage.mrml.mrb import load_mrb, read_mrb, save_mrb
from radtriage.mrml.overlay import DEFAULT_HEATMAP_COLORMAP, add_heatmap_overlay, find_color_node, show_in_slice_views
from radtriage.mrml.render import blended_slice_rgba, ras_to_slice_pixel, show_slice_through
from radtriage.mrml.scene import HeadlessSlicer, create_headless_scene, get_slice_logic, slice_composite_nodes
from radtriage.mrml.tables import columns_of_table, rows_from_table, table_node_from_rows
from radtriage.mrml.volumes import image_to_volume_node, volume_node_to_image

__all__ = [
    "DEFAULT_HEATMAP_COLORMAP",
    "Detection",
    "HeadlessSlicer",
    "add_detections",
    "add_heatmap_overlay",
    "blended_slice_rgba",
    "columns_of_table",
    "create_headless_scene",
    "find_color_node",
    "get_slice_logic",
    "image_to_volume_node",
    "load_mrb",
    "patient_and_study_of",
    "place_under_study",
    "ras_to_slice_pixel",
    "read_detections",
    "read_mrb",
    "rows_from_table",
    "save_mrb",
    "show_in_slice_views",
    "show_slice_through",
    "slice_composite_nodes",
    "subject_hierarchy",
    "table_node_from_rows",
    "volume_node_to_image",
]
