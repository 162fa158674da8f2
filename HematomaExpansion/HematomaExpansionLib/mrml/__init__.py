"""MRML adapter: the only place besides the module file that imports slicer or vtk.

``volumes`` (nodes <-> SimpleITK), ``loading`` (files and DICOM folders), ``segments`` (segment <->
mask), ``tables`` (table nodes), ``scene`` (node labels, scratch nodes), ``runtime`` (the application's
or a headless scene), ``logic`` (the module's Logic), ``selftest`` (its scenarios) and the cohort
jobs that need a scene. The node functions are re-exported here: ``mrml.load_case(...)``.
"""

from .loading import load_case, load_segmentation, load_volume, read_dicom_series
from .scene import node_label, scratch_nodes
from .segments import (
    mask_to_segment,
    new_segmentation_node,
    resolve_segment_id,
    segment_names,
    segment_to_mask,
    segment_volume_ml,
)
from .tables import table_node_from_rows, table_node_rows
from .volumes import GEOMETRY_DECIMALS_MM, ras_to_lps, sitk_to_volume, volume_to_sitk, world_ijk_to_ras

__all__ = [
    "GEOMETRY_DECIMALS_MM",
    "load_case",
    "load_segmentation",
    "load_volume",
    "mask_to_segment",
    "new_segmentation_node",
    "node_label",
    "ras_to_lps",
    "read_dicom_series",
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
