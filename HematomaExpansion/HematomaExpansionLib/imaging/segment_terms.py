"""How a hematoma segment is named, coloured and coded, wherever one is written or created."""

HEMATOMA_SEGMENT_NAME = "Hematoma"
HEMATOMA_COLOR = (188 / 255, 65 / 255, 28 / 255)  # DICOM master list colour of "Hemorrhage"
# Slicer's TerminologyEntry tag: category, type, type modifier, anatomic context, region, region modifier.
HEMATOMA_TERMINOLOGY = (
    "Segmentation category and type - DICOM master list"
    "~SCT^49755003^Morphologically Altered Structure"
    "~SCT^50960005^Hemorrhage"
    "~^^"
    "~Anatomic codes - DICOM master list"
    "~SCT^12738006^Brain"
    "~^^"
)
