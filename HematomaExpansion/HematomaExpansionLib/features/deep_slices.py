"""The axial slice images that the deep-feature network sees.

Works on canonical images (identity direction, axes L, P, S; see ``geometry.canonical_axial``).
For the hematoma's largest axial cross-section z0, the slices at z0 + offsets (physical mm) are
sampled by linear interpolation along z, cropped to one square around the hematoma (the same
crop for every slice), windowed to [0, 1] and resampled to ``size_px`` x ``size_px``.

Resampling is separable and written out here so that the physical geometry is exact: output
pixel centres are placed in mm; enlarging is bilinear interpolation, shrinking averages the
bilinear interpolant over each output pixel's footprint (antialiased, like
``torch.nn.functional.interpolate(antialias=True)``, but exact for linear gradients).
Parts of the square outside the image are filled with the window's lower bound (0 after
windowing), so the crop keeps its physical size, aspect and position when the hematoma touches
the image border.
Arrays are indexed (slice, y, x): row 0 is anterior and column 0 the patient's right, which is
the radiological display convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError
from ..imaging.geometry import CrossSection, grid_differences, is_identity_direction

DEFAULT_OFFSETS_MM = (-2.0, -1.0, 0.0, 1.0, 2.0)
THICK_SLICE_MM = 2.0
AGGREGATIONS = ("mean", "concat")
_ON_SLICE_TOL = 1e-6  # in slice units: closer than this to a slice centre means "on the slice"


@dataclass(frozen=True)
class DeepSliceConfig:
    """How the deep-feature slice images are made; ``to_provenance`` goes into the provenance."""

    offsets_mm: tuple[float, ...] = DEFAULT_OFFSETS_MM
    margin_mm: float = 5.0
    window_level_hu: float = 40.0
    window_width_hu: float = 80.0
    size_px: int = 224
    blank_outside: bool = False
    aggregation: str = "mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets_mm", tuple(float(o) for o in self.offsets_mm))
        if not self.offsets_mm or not all(np.isfinite(self.offsets_mm)):
            raise InputError(
                f"slice offsets must be a non-empty list of finite mm values, got {self.offsets_mm}"
            )
        if not (np.isfinite(self.margin_mm) and self.margin_mm >= 0):
            raise InputError(f"crop margin must be >= 0 mm, got {self.margin_mm}")
        if not (np.isfinite(self.window_width_hu) and self.window_width_hu > 0):
            raise InputError(f"window width must be > 0 HU, got {self.window_width_hu}")
        if not np.isfinite(self.window_level_hu):
            raise InputError(f"window level must be a finite HU value, got {self.window_level_hu}")
        if int(self.size_px) != self.size_px or self.size_px < 32:
            raise InputError(f"image size must be an integer >= 32 pixels, got {self.size_px}")
        if self.aggregation not in AGGREGATIONS:
            raise InputError(f"deep aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")

    @property
    def window_lower_hu(self) -> float:
        """HU value mapped to 0 (and used to pad outside the image)."""
        return self.window_level_hu - self.window_width_hu / 2.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready field values (the cohort cache key records them)."""
        values = asdict(self)
        values["offsets_mm"] = list(self.offsets_mm)
        return values

    def to_provenance(self) -> dict[str, Any]:
        """The settings as the deep features' provenance (and a model's extractor identity) records them."""
        return {
            "slice_offsets_mm": list(self.offsets_mm),
            "window": {"level_hu": self.window_level_hu, "width_hu": self.window_width_hu},
            "crop_margin_mm": self.margin_mm,
            "deep_aggregation": self.aggregation,
            "deep_size_px": self.size_px,
            "deep_blank_outside": self.blank_outside,
        }

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any]) -> DeepSliceConfig:
        """The settings that :meth:`to_provenance` recorded (e.g. a model's extractor identity)."""
        window = provenance["window"]
        return cls(
            offsets_mm=tuple(provenance["slice_offsets_mm"]),
            margin_mm=provenance["crop_margin_mm"],
            window_level_hu=window["level_hu"],
            window_width_hu=window["width_hu"],
            size_px=provenance["deep_size_px"],
            blank_outside=provenance["deep_blank_outside"],
            aggregation=provenance["deep_aggregation"],
        )


@dataclass(frozen=True)
class CropBox:
    """A square in-plane crop in physical mm (LPS x, y), with what the image actually covers."""

    x_min_mm: float
    y_min_mm: float
    side_mm: float
    hematoma_bbox_mm: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max (voxel edges)
    inside_image_mm: tuple[float, float, float, float]  # the square clipped to the image extent

    @property
    def x_max_mm(self) -> float:
        return self.x_min_mm + self.side_mm

    @property
    def y_max_mm(self) -> float:
        return self.y_min_mm + self.side_mm

    @property
    def clipped(self) -> bool:
        """True when part of the square lies outside the image (that part is padded with air)."""
        x0, x1, y0, y1 = self.inside_image_mm
        return not np.allclose([x0, x1, y0, y1], [self.x_min_mm, self.x_max_mm, self.y_min_mm, self.y_max_mm])

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "x_min_mm": self.x_min_mm,
            "y_min_mm": self.y_min_mm,
            "side_mm": self.side_mm,
            "hematoma_bbox_mm": list(self.hematoma_bbox_mm),
            "inside_image_mm": list(self.inside_image_mm),
            "clipped": self.clipped,
        }


@dataclass(frozen=True)
class PreparedSlices:
    """The network's input images and how they were made."""

    images: np.ndarray  # (n, size_px, size_px) float32 in [0, 1]
    masks: np.ndarray  # (n, size_px, size_px) bool: the hematoma on each image (nearest neighbour)
    z_positions_mm: tuple[float, ...]
    crop: CropBox
    warnings: list[str]


def _require_canonical(image: sitk.Image, what: str) -> None:
    if image.GetDimension() != 3:
        raise InputError(f"the {what} must be a 3D image, got {image.GetDimension()}D")
    if not is_identity_direction(image):
        raise InputError(
            f"the {what} is not in canonical axial orientation; "
            "pass it through geometry.canonical_axial first"
        )


def slice_positions_mm(z0_mm: float, offsets_mm: tuple[float, ...] = DEFAULT_OFFSETS_MM) -> tuple[float, ...]:
    """Physical z positions z0 + offset for each offset, in mm."""
    return tuple(float(z0_mm) + float(o) for o in offsets_mm)


def sample_axial_slices(
    image: sitk.Image, z_positions_mm: tuple[float, ...], *, nearest: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Return the axial images at physical z positions, (n, y, x) float32, and warnings.

    Values come from linear interpolation between the two nearest slices (``nearest=True``: the
    nearest slice, for masks); a position on a slice returns that slice exactly. Positions
    beyond the first or last slice use that slice, with a warning. When the slice spacing
    exceeds 2 mm a warning says the off-centre images are interpolated.
    """
    _require_canonical(image, "image")
    array = sitk.GetArrayViewFromImage(image)  # (z, y, x), no copy
    n_slices = array.shape[0]
    z_origin_mm, spacing_z_mm = image.GetOrigin()[2], image.GetSpacing()[2]
    z_last_mm = z_origin_mm + (n_slices - 1) * spacing_z_mm
    warnings: list[str] = []

    positions = np.asarray(z_positions_mm, dtype=float)
    t = (positions - z_origin_mm) / spacing_z_mm
    outside = (t < -_ON_SLICE_TOL) | (t > n_slices - 1 + _ON_SLICE_TOL)
    if outside.any():
        warnings.append(
            f"z positions {positions[outside].round(3).tolist()} mm lie outside the CT slices "
            f"({z_origin_mm:.3f} to {z_last_mm:.3f} mm); the nearest slice was used"
        )
    t = np.clip(t, 0.0, n_slices - 1)
    interpolated = np.abs(t - np.round(t)) > _ON_SLICE_TOL
    if spacing_z_mm > THICK_SLICE_MM and interpolated.any() and not nearest:
        warnings.append(
            f"the images at z = {positions[interpolated].round(3).tolist()} mm are interpolated "
            f"between {spacing_z_mm:.1f} mm slices, not measured"
        )

    out = np.empty((len(positions), *array.shape[1:]), dtype=np.float32)
    for i, ti in enumerate(t):
        if nearest or not interpolated[i]:
            out[i] = array[int(np.floor(ti + 0.5))]
            continue
        k0 = int(np.floor(ti))
        w = ti - k0
        out[i] = (1.0 - w) * array[k0].astype(np.float64) + w * array[k0 + 1].astype(np.float64)
    return out, warnings


def _image_extent_mm(image: sitk.Image, axis: int) -> tuple[float, float]:
    """Physical extent of a canonical image along an axis, from voxel edge to voxel edge."""
    origin, spacing, size = image.GetOrigin()[axis], image.GetSpacing()[axis], image.GetSize()[axis]
    return origin - spacing / 2.0, origin + (size - 0.5) * spacing


def crop_box_mm(mask: sitk.Image, slice_index: int, margin_mm: float = 5.0) -> CropBox:
    """The square crop around the hematoma's bounding box on one axial slice.

    Centred on the bounding box (voxel edges) of the mask on ``slice_index``; side = the larger
    bounding-box side + 2 x ``margin_mm``. ``inside_image_mm`` is the square clipped to the image.
    """
    _require_canonical(mask, "hematoma mask")
    if not 0 <= slice_index < mask.GetSize()[2]:
        raise InputError(f"slice index {slice_index} is outside the mask (0 to {mask.GetSize()[2] - 1})")
    plane = sitk.GetArrayViewFromImage(mask)[slice_index] > 0  # (y, x)
    if not plane.any():
        raise InputError(f"the hematoma mask is empty on axial slice {slice_index}")
    rows, cols = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
    (ox, oy, _), (sx, sy, _) = mask.GetOrigin(), mask.GetSpacing()
    bbox = (
        ox + (cols[0] - 0.5) * sx,
        ox + (cols[-1] + 0.5) * sx,
        oy + (rows[0] - 0.5) * sy,
        oy + (rows[-1] + 0.5) * sy,
    )
    side_mm = max(bbox[1] - bbox[0], bbox[3] - bbox[2]) + 2.0 * margin_mm
    x_min_mm = (bbox[0] + bbox[1] - side_mm) / 2.0
    y_min_mm = (bbox[2] + bbox[3] - side_mm) / 2.0
    (ix0, ix1), (iy0, iy1) = _image_extent_mm(mask, 0), _image_extent_mm(mask, 1)
    inside = (
        max(x_min_mm, ix0),
        min(x_min_mm + side_mm, ix1),
        max(y_min_mm, iy0),
        min(y_min_mm + side_mm, iy1),
    )
    return CropBox(
        float(x_min_mm), float(y_min_mm), float(side_mm), tuple(map(float, bbox)), tuple(map(float, inside))
    )


def _output_centres_index(start_mm: float, side_mm: float, size_px: int, origin_mm: float, spacing_mm: float):
    """Output pixel centres of a square side, in continuous input-index units."""
    centres_mm = start_mm + (np.arange(size_px) + 0.5) * (side_mm / size_px)
    return (centres_mm - origin_mm) / spacing_mm


def _tent_integral(u: np.ndarray) -> np.ndarray:
    """Integral of the unit tent max(0, 1 - |t|) from -infinity to u."""
    u = np.clip(u, -1.0, 1.0)
    return np.where(u < 0.0, (u + 1.0) ** 2 / 2.0, 1.0 - (1.0 - u) ** 2 / 2.0)


def _linear_weights(centres: np.ndarray, n_in: int, scale: float) -> tuple[np.ndarray, slice]:
    """Resampling weights onto the input pixels that exist, and which input pixels they cover.

    ``scale`` is the output pixel size in input pixels. Enlarging (scale <= 1): the linear
    interpolant at each output centre. Shrinking: the mean of the linear interpolant over the
    output pixel's footprint. Rows sum to 1 over the full support, so the weight of input
    pixels beyond the image is the share that the pad value fills.
    """
    half = scale / 2.0 if scale > 1.0 else 0.0
    lo = int(np.floor(centres.min() - half - 1.0))
    hi = int(np.ceil(centres.max() + half + 1.0))
    distance = centres[:, None] - np.arange(lo, hi + 1)[None, :]
    if half == 0.0:
        weights = np.maximum(0.0, 1.0 - np.abs(distance))
    else:
        weights = (_tent_integral(distance + half) - _tent_integral(distance - half)) / scale
    first, last = max(lo, 0), min(hi, n_in - 1)
    if first > last:
        return np.zeros((len(centres), 0)), slice(0, 0)
    return weights[:, first - lo : last - lo + 1], slice(first, last + 1)


def resample_square(
    slices: np.ndarray, image: sitk.Image, crop: CropBox, size_px: int, pad_value: float
) -> np.ndarray:
    """Resample (n, y, x) slices on ``image``'s in-plane grid to the square crop, (n, size, size)."""
    (ox, oy, _), (sx, sy, _) = image.GetOrigin(), image.GetSpacing()
    out_spacing_mm = crop.side_mm / size_px
    wx, cols = _linear_weights(
        _output_centres_index(crop.x_min_mm, crop.side_mm, size_px, ox, sx),
        slices.shape[2],
        out_spacing_mm / sx,
    )
    wy, rows = _linear_weights(
        _output_centres_index(crop.y_min_mm, crop.side_mm, size_px, oy, sy),
        slices.shape[1],
        out_spacing_mm / sy,
    )
    region = slices[:, rows, cols].astype(np.float64)
    inside = np.einsum("ik,nkl,jl->nij", wy, region, wx, optimize=True)
    coverage = wy.sum(axis=1)[:, None] * wx.sum(axis=1)[None, :]
    return (inside + (1.0 - coverage) * pad_value).astype(np.float32)


def resample_square_nearest(slices: np.ndarray, image: sitk.Image, crop: CropBox, size_px: int) -> np.ndarray:
    """Nearest-neighbour version of :func:`resample_square` for masks; outside the image is 0."""
    (ox, oy, _), (sx, sy, _) = image.GetOrigin(), image.GetSpacing()
    kx = np.floor(_output_centres_index(crop.x_min_mm, crop.side_mm, size_px, ox, sx) + 0.5).astype(int)
    ky = np.floor(_output_centres_index(crop.y_min_mm, crop.side_mm, size_px, oy, sy) + 0.5).astype(int)
    valid = (
        (ky[:, None] >= 0)
        & (ky[:, None] < slices.shape[1])
        & (kx[None, :] >= 0)
        & (kx[None, :] < slices.shape[2])
    )
    picked = slices[:, np.clip(ky, 0, slices.shape[1] - 1)][:, :, np.clip(kx, 0, slices.shape[2] - 1)]
    return np.where(valid[None], picked, 0).astype(slices.dtype)


def apply_window(hu: np.ndarray, level_hu: float, width_hu: float) -> np.ndarray:
    """Map HU to [0, 1]: (HU - (level - width / 2)) / width, clipped; float32."""
    lower_hu = level_hu - width_hu / 2.0
    return np.clip((np.asarray(hu, dtype=np.float64) - lower_hu) / width_hu, 0.0, 1.0).astype(np.float32)


def grey_levels(image: np.ndarray) -> np.ndarray:
    """A windowed image (values in [0, 1]) as 8-bit grey, ``round(255 * clip(value, 0, 1))``."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _require_same_grid(ct: sitk.Image, mask: sitk.Image) -> None:
    if grid_differences(mask, ct):
        raise InputError("the CT and the hematoma mask must share one voxel grid (size, spacing, origin)")


def prepare_deep_slices(
    ct: sitk.Image, mask: sitk.Image, cross_section: CrossSection, config: DeepSliceConfig
) -> PreparedSlices:
    """Sample, crop, window and resize the slices at z0 + offsets for the network.

    ``cross_section`` is the mask's largest axial cross-section (``geometry``); the crop is
    taken on that slice and applied to every position. With ``config.blank_outside`` pixels
    outside the hematoma (mask sampled by nearest neighbour in z and in-plane) are set to 0.
    """
    _require_canonical(ct, "CT")
    _require_canonical(mask, "hematoma mask")
    _require_same_grid(ct, mask)
    z_positions_mm = slice_positions_mm(cross_section.z_mm, config.offsets_mm)
    hu_slices, warnings = sample_axial_slices(ct, z_positions_mm)
    if not np.isfinite(hu_slices).all():
        raise InputError(
            "the CT holds NaN or infinite values on the axial slices used for deep features; fix the volume"
        )
    crop = crop_box_mm(mask, cross_section.slice_index, config.margin_mm)
    if crop.clipped:
        warnings.append(
            "the hematoma crop reaches beyond the image border; the part outside is filled with the window's lower bound"
        )
    hu_crop = resample_square(hu_slices, ct, crop, config.size_px, pad_value=config.window_lower_hu)
    images = apply_window(hu_crop, config.window_level_hu, config.window_width_hu)
    mask_slices, _ = sample_axial_slices(mask, z_positions_mm, nearest=True)
    inside = resample_square_nearest(mask_slices, mask, crop, config.size_px) > 0
    if config.blank_outside:
        images = np.where(inside, images, np.float32(0.0))
    return PreparedSlices(
        images=images, masks=inside, z_positions_mm=z_positions_mm, crop=crop, warnings=warnings
    )
