"""MRML adapter: the only place besides the module file that imports slicer or vtk.

Nodes to SimpleITK images and back, file loading, segments to masks and back, table nodes, the
headless runtime, the Logic base, self-test scenarios and the cohort jobs that need a scene.
"""

from .nodes import (
    GEOMETRY_DECIMALS_MM,
    load_case,
    load_segmentation,
    load_volume,
    mask_to_segment,
    node_label,
    resolve_segment_id,
    scratch_nodes,
    segment_names,
    segment_to_mask,
    segment_volume_ml,
    sitk_to_volume,
    table_node_from_rows,
    table_node_rows,
    volume_to_sitk,
    world_ijk_to_ras,
)

__all__ = [
    "GEOMETRY_DECIMALS_MM",
    "load_case",
    "load_segmentation",
    "load_volume",
    "mask_to_segment",
    "node_label",
    "resolve_segment_id",
    "scratch_nodes",
    "segment_names",
    "segment_to_mask",
    "segment_volume_ml",
    "sitk_to_volume",
    "table_node_from_rows",
    "table_node_rows",
    "volume_to_sitk",
    "world_ijk_to_ras",
]
