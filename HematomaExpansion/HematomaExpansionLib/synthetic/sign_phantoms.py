"""Head-CT phantoms with conventional signs of expansion inserted at known size, contrast and position.

A case (:mod:`.sign_cases`) becomes a phantom in five steps:

1. the head and an ellipsoidal (or, for the lobulated control, lobulated) homogeneous clot from
   :func:`.phantom.generate_phantom` ('thin' preset, 2 mm slices, no noise yet);
2. hypodense spheres (blend: centred on the clot surface, so the region inside the clot reaches its
   margin; black hole and hypodensity: inside the clot, at least 3.5 mm from its surface) lower the
   clot's density by ``contrast_hu`` with partial volume at both borders: a second phantom whose clot
   is 50 HU lower gives the clot's partial-volume fraction at every voxel;
3. hyperdense spheres of the clot's density: separate blobs whose surface gap to the clot is set by
   bisection along an in-plane ray (against densely sampled points of the ellipsoid surface), and
   bubbles centred on the clot surface; all lie in the axial slice nearest the clot centre;
4. CT-like correlated noise (:func:`.random_fields.correlated_noise`);
5. a crop around the hematoma and the structures (22 mm in-plane, 8 mm along z) that reaches the air
   beside the head on the hematoma's side (a head CT has air), to keep cases small.

The truth holds every structure with its kind, diameter, contrast, gap, position (LPS mm) and axial
slice ``z_mm``, and the signs it makes (:func:`.sign_cases.true_signs`). Deterministic in the case.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..common.errors import InputError
from .grid import PhantomGrid, partial_volume_ramp
from .hematoma_shape import fibonacci_sphere, rotation_about_z
from .phantom import Phantom, generate_phantom
from .placement import BRAIN_MARGIN_MM
from .random_fields import correlated_noise
from .sign_cases import SignCase, StructureSpec, true_signs
from .spec import HematomaSpec

logger = logging.getLogger(__name__)

SLICE_MM = 2.0
CROP_MARGIN_MM = (22.0, 22.0, 8.0)
AIR_MARGIN_MM = 3.0  # the crop reaches this far beyond the scalp on the hematoma's side
INNER_DEPTH_MM = 3.5  # an encapsulated sphere's surface stays this far inside the clot
BLOB_SEPARATION_MM = 3.0  # gap kept between two inserted blobs
_FRACTION_DELTA_HU = 50.0  # clot density step of the second phantom that gives the clot fraction
_ATTEMPTS = 12


class _PlacementError(Exception):
    """The drawn placement does not fit the head: the next attempt draws another."""


@dataclass
class _Canvas:
    """The phantom being painted: float CT, mask, its grid and the clot's geometry."""

    ct: np.ndarray
    mask: np.ndarray
    clot_fraction: np.ndarray | None
    grid: PhantomGrid
    truth: dict[str, Any]
    surface_mm: np.ndarray  # dense points of the clot surface (ellipsoid), (n, 3)
    blobs: list[tuple[np.ndarray, float]]  # centre, radius of every hyperdense sphere inserted

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.truth["centre_mm"], dtype=float)

    def slice_z(self) -> float:
        """z (mm) of the axial slice centre nearest the clot centre."""
        k = round((self.centre[2] - self.grid.origin[2]) / self.grid.spacing[2])
        return float(self.grid.origin[2] + k * self.grid.spacing[2])

    def sphere(
        self, centre: np.ndarray, radius_mm: float
    ) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
        """Box, partial-volume fraction and voxel-centre-inside flag of a sphere."""
        box = self.grid.box(centre, radius_mm + 2.0 * float(self.grid.spacing.max()))
        offsets = self.grid.axis_offsets(box, centre)
        distance = np.sqrt(sum(o * o for o in self.grid.physical_offsets(offsets)))
        width = np.maximum(self.grid.radial_width(offsets), np.float32(self.grid.spacing.min()))
        fraction = partial_volume_ramp(np.float32(radius_mm) - distance, width)
        return box, fraction, distance <= radius_mm


def _grid_of(image: sitk.Image) -> PhantomGrid:
    return PhantomGrid(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def _ellipsoid_surface(truth: dict[str, Any], n: int = 30000) -> np.ndarray:
    """Dense points of the analytic clot surface (semi-axes L, P, S rotated by the yaw about S)."""
    local = fibonacci_sphere(n) * np.asarray(truth["semi_axes_mm"])
    return np.asarray(truth["centre_mm"]) + local @ rotation_about_z(truth["yaw_deg"]).T


def _surface_distance(canvas: _Canvas, direction: np.ndarray, z_mm: float) -> float:
    """Distance from the clot centre's point on slice ``z_mm`` to the clot surface along ``direction``."""
    semi = np.asarray(canvas.truth["semi_axes_mm"], dtype=float)
    dz = z_mm - canvas.centre[2]
    local = rotation_about_z(canvas.truth["yaw_deg"]).T @ direction
    shrink = 1.0 - (dz / semi[2]) ** 2
    return float(np.sqrt(shrink / np.sum((local[:2] / semi[:2]) ** 2)))


def _inside_brain(canvas: _Canvas, centre: np.ndarray, radius_mm: float) -> bool:
    """True when the sphere lies inside the brain (with the phantom's margin) and the grid."""
    head = np.asarray(canvas.truth["head_centre_mm"])
    axes = np.asarray(canvas.truth["brain_semi_axes_mm"])
    limit = (1.0 - (BRAIN_MARGIN_MM + radius_mm) / axes.min()) ** 2
    index = canvas.grid.to_index(centre[None, :])[0]
    margin = radius_mm / canvas.grid.spacing + 2.0
    in_grid = bool(np.all(index >= margin) and np.all(index <= canvas.grid.size - 1 - margin))
    return bool(np.sum(((centre - head) / axes) ** 2) <= limit) and in_grid


def _point_truth(spec: StructureSpec, position: np.ndarray, **extra: Any) -> dict[str, Any]:
    """JSON-ready truth of an inserted structure: its spec, position (LPS mm) and axial slice."""
    return {**asdict(spec), "position_mm": position.tolist(), "z_mm": float(position[2]), **extra}


def _paint_hypodensity(canvas: _Canvas, spec: StructureSpec, rng: np.random.Generator) -> dict[str, Any]:
    """Lower the clot by ``contrast_hu`` inside a sphere: on the surface (blend) or well inside it."""
    radius = spec.diameter_mm / 2.0
    if spec.kind == "surface_hypodensity":
        angle = rng.uniform(0.0, 2.0 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        start = np.array([canvas.centre[0], canvas.centre[1], canvas.slice_z()])
        reach = _surface_distance(canvas, direction, start[2])
        centre = start + reach * direction
        position = start + (reach - radius / 2.0) * direction  # deep inside the region cut out of the clot
    else:
        depth = sitk.GetArrayFromImage(
            sitk.SignedMaurerDistanceMap(
                _mask_image(canvas), insideIsPositive=True, squaredDistance=False, useImageSpacing=True
            )
        )
        candidates = np.flatnonzero(depth >= radius + INNER_DEPTH_MM)
        if candidates.size == 0:
            raise _PlacementError("the clot is too small for an encapsulated region")
        k, j, i = np.unravel_index(candidates[rng.integers(candidates.size)], depth.shape)
        centre = np.asarray(
            canvas.grid.origin + canvas.grid.direction @ (np.array([i, j, k]) * canvas.grid.spacing)
        )
        position = centre
    box, fraction, _ = canvas.sphere(centre, radius)
    canvas.ct[box] -= np.float32(spec.contrast_hu) * fraction * canvas.clot_fraction[box]
    return _point_truth(spec, position, sphere_centre_mm=centre.tolist())


def _mask_image(canvas: _Canvas) -> sitk.Image:
    image = sitk.GetImageFromArray(canvas.mask)
    image.SetSpacing(canvas.grid.spacing.tolist())
    image.SetOrigin(canvas.grid.origin.tolist())
    image.SetDirection(canvas.grid.direction.ravel().tolist())
    return image


def _gap_mm(canvas: _Canvas, centre: np.ndarray, radius_mm: float) -> float:
    """Gap between a sphere's surface and the clot surface (negative when they overlap)."""
    return float(np.sqrt(np.min(np.sum((canvas.surface_mm - centre) ** 2, axis=1))) - radius_mm)


def _separate_centre(canvas: _Canvas, direction: np.ndarray, z_mm: float, spec: StructureSpec) -> np.ndarray:
    """Centre along the in-plane ray whose sphere has the requested gap to the clot (bisection)."""
    start = np.array([canvas.centre[0], canvas.centre[1], z_mm])
    radius = spec.diameter_mm / 2.0
    low = _surface_distance(canvas, direction, z_mm)
    high = low + radius + spec.gap_mm + 5.0
    for _ in range(40):
        middle = 0.5 * (low + high)
        if _gap_mm(canvas, start + middle * direction, radius) < spec.gap_mm:
            low = middle
        else:
            high = middle
    return start + 0.5 * (low + high) * direction


def _free(canvas: _Canvas, centre: np.ndarray, radius_mm: float) -> bool:
    return all(np.linalg.norm(centre - c) >= radius_mm + r + BLOB_SEPARATION_MM for c, r in canvas.blobs)


def _paint_blob(canvas: _Canvas, spec: StructureSpec, angle: float, in_mask: bool) -> dict[str, Any]:
    """A sphere of clot density apart from the clot (``separate_blob``) or centred on its surface."""
    radius = spec.diameter_mm / 2.0
    z_mm = canvas.slice_z()
    direction = np.array([np.cos(angle), np.sin(angle), 0.0])
    if spec.kind == "separate_blob":
        centre = _separate_centre(canvas, direction, z_mm, spec)
    else:
        centre = np.array([canvas.centre[0], canvas.centre[1], z_mm]) + direction * _surface_distance(
            canvas, direction, z_mm
        )
    if not (_inside_brain(canvas, centre, radius) and _free(canvas, centre, radius)):
        raise _PlacementError("blob outside the brain or too close to another")
    box, fraction, inside = canvas.sphere(centre, radius)
    region = canvas.ct[box]
    region += (np.float32(canvas.truth["mean_hu"]) - region) * fraction
    if in_mask or spec.kind == "connected_bubble":
        canvas.mask[box][inside] = 1
    canvas.blobs.append((centre, radius))
    separate = spec.kind == "separate_blob"
    gap = _gap_mm(canvas, centre, radius) if separate else 0.0
    return _point_truth(replace(spec, gap_mm=gap), centre, in_mask=bool(in_mask or not separate))


def _paint_blobs(canvas: _Canvas, case: SignCase, rng: np.random.Generator) -> list[dict[str, Any]]:
    """All hyperdense spheres, at evenly spread in-plane angles from a random phase."""
    blobs = [s for s in case.structures if s.kind in ("separate_blob", "connected_bubble")]
    if not blobs:
        return []
    phase = rng.uniform(0.0, 2.0 * np.pi)
    angles = phase + 2.0 * np.pi * np.arange(len(blobs)) / len(blobs) + rng.uniform(-0.15, 0.15, len(blobs))
    return [_paint_blob(canvas, s, float(a), case.blobs_in_mask) for s, a in zip(blobs, angles, strict=True)]


def _single_component_per_slice(mask: np.ndarray) -> bool:
    """True when every axial slice of the mask is one connected piece (8-connectivity)."""
    return all(ndimage.label(plane, structure=np.ones((3, 3)))[1] <= 1 for plane in mask)


def _base(case: SignCase, attempt: int, rng: np.random.Generator) -> _Canvas:
    """Step 1 (and the clot fraction of step 2): the head and clot, without noise."""
    side = rng.choice([-1.0, 1.0])
    offset = (side * rng.uniform(10.0, 18.0), rng.uniform(-8.0, 8.0), rng.uniform(0.0, 8.0))
    spec = HematomaSpec(
        volume_ml=case.volume_ml,
        offset_mm=offset,
        semi_axis_ratios=case.semi_axis_ratios,
        yaw_deg=case.yaw_deg,
        lobulation=case.lobulation,
        mean_hu=case.clot_hu,
    )
    seed = case.seed + attempt
    try:
        phantom = generate_phantom(spec, preset="thin", seed=seed, noise_sd_hu=0.0, slice_mm=SLICE_MM)
    except InputError as error:
        raise _PlacementError(str(error)) from error
    ct = sitk.GetArrayFromImage(phantom.ct).astype(np.float32)
    mask = sitk.GetArrayFromImage(phantom.mask)
    if case.lobulation > 0 and not _single_component_per_slice(mask):
        raise _PlacementError("a lobe is cut off on an axial slice")
    fraction = None
    if any(s.kind.endswith("hypodensity") for s in case.structures):
        lower = replace(spec, mean_hu=case.clot_hu - _FRACTION_DELTA_HU)
        low = generate_phantom(lower, preset="thin", seed=seed, noise_sd_hu=0.0, slice_mm=SLICE_MM)
        fraction = np.clip((ct - sitk.GetArrayFromImage(low.ct)) / np.float32(_FRACTION_DELTA_HU), 0.0, 1.0)
    canvas = _Canvas(ct, mask, fraction, _grid_of(phantom.ct), phantom.truth, np.zeros((0, 3)), [])
    canvas.surface_mm = _ellipsoid_surface(phantom.truth)
    return canvas


def _crop(canvas: _Canvas, ct: np.ndarray) -> tuple[sitk.Image, sitk.Image]:
    """The CT and mask cropped to the hematoma and the blobs plus :data:`CROP_MARGIN_MM`."""
    points = [np.argwhere(canvas.mask)[:, ::-1].astype(float)]  # (i, j, k)
    points += [
        canvas.grid.to_index(c[None, :]) + np.array([[s, s, s]]) for c, _ in canvas.blobs for s in (-4, 4)
    ]
    # The air beside the nearer side of the head, so the case is still recognisably a head CT.
    head = np.asarray(canvas.truth["head_centre_mm"])
    side = np.sign(canvas.centre[0] - head[0]) or 1.0
    air = canvas.centre.copy()
    air[0] = head[0] + side * (canvas.truth["scalp_semi_axes_mm"][0] + AIR_MARGIN_MM)
    points.append(canvas.grid.to_index(air[None, :]))
    index = np.concatenate(points)
    margin = np.asarray(CROP_MARGIN_MM) / canvas.grid.spacing
    lo = np.maximum(np.floor(index.min(axis=0) - margin).astype(int), 0)
    hi = np.minimum(np.ceil(index.max(axis=0) + margin).astype(int) + 1, canvas.grid.size)
    box = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    images = []
    for array in (ct, canvas.mask):
        image = sitk.GetImageFromArray(np.ascontiguousarray(array[box]))
        image.SetSpacing(canvas.grid.spacing.tolist())
        image.SetDirection(canvas.grid.direction.ravel().tolist())
        image.SetOrigin((canvas.grid.origin + canvas.grid.direction @ (lo * canvas.grid.spacing)).tolist())
        images.append(image)
    return images[0], images[1]


def _attempt(case: SignCase, attempt: int) -> Phantom:
    rng = np.random.default_rng(np.random.SeedSequence([case.seed, attempt]))
    canvas = _base(case, attempt, rng)
    inserted = [_paint_hypodensity(canvas, s, rng) for s in case.structures if s.kind.endswith("hypodensity")]
    inserted += _paint_blobs(canvas, case, rng)
    noise = correlated_noise(rng, canvas.ct.shape, case.noise_sd_hu)
    ct = np.clip(np.rint(canvas.ct + noise), -1024, 3071).astype(np.int16)
    ct_image, mask_image = _crop(canvas, ct)
    realised = [StructureSpec(s["kind"], s["diameter_mm"], s["contrast_hu"], s["gap_mm"]) for s in inserted]
    truth = {
        "case_id": case.case_id,
        "scenario": case.scenario,
        "sign": case.sign,
        "case": asdict(case),
        "attempt": attempt,
        "slice_mm": SLICE_MM,
        "structures": inserted,
        "signs": true_signs(realised),
        "clot": {
            k: canvas.truth[k] for k in ("centre_mm", "semi_axes_mm", "yaw_deg", "volume_ml", "mean_hu")
        },
        "mask_volume_ml": float(canvas.mask.sum() * np.prod(canvas.grid.spacing) / 1000.0),
    }
    return Phantom(ct_image, mask_image, truth)


def make_sign_phantom(case: SignCase) -> Phantom:
    """The phantom of ``case``; a placement that does not fit the head is drawn again (seeded)."""
    for attempt in range(_ATTEMPTS):
        try:
            return _attempt(case, attempt)
        except _PlacementError as reason:
            logger.debug("%s attempt %d: %s", case.case_id, attempt, reason)
    raise RuntimeError(f"{case.case_id}: no placement fits after {_ATTEMPTS} attempts")
