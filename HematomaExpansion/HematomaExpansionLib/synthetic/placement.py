"""Where the phantom's hematoma goes: a given offset or a drawn deep, thalamic or lobar site that
keeps its surface inside the brain and the field of view."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..common.errors import InputError
from .anatomy import Head
from .grid import PhantomGrid
from .hematoma_shape import HematomaShape
from .spec import HematomaSpec

# Hematoma surface stays this far inside the brain surface (plus the oedema rim).
BRAIN_MARGIN_MM = 3.0
# Candidate hematoma sites relative to the head centre (deep, thalamic); lobar sites are drawn.
_DEEP_SITES_MM = ((22.0, -2.0, 2.0), (10.0, 12.0, 5.0))


def _fits(
    points_mm: np.ndarray,
    head_centre: np.ndarray,
    brain_axes: np.ndarray,
    margin_mm: float,
    grid: PhantomGrid,
) -> bool:
    """True when all points lie ``margin_mm`` inside the brain and one voxel inside the grid."""
    limit = (1.0 - margin_mm / brain_axes.min()) ** 2
    if np.any(np.sum(((points_mm - head_centre) / brain_axes) ** 2, axis=1) > limit):
        return False
    idx = grid.to_index(points_mm)
    return bool(np.all(idx >= 1.0) and np.all(idx <= grid.size - 2.0))


def _draw_site(rng: np.random.Generator, brain_axes: np.ndarray, head_scale: float) -> np.ndarray:
    """A hematoma site relative to the head centre: putamen 50%, thalamus 15%, lobar 35%."""
    kind = rng.choice(3, p=[0.5, 0.15, 0.35])
    side = rng.choice([-1.0, 1.0])
    jitter = rng.normal(0.0, 3.0, 3)
    if kind < 2:
        site = np.asarray(_DEEP_SITES_MM[kind]) * head_scale
        return site * np.array([side, 1.0, 1.0]) + jitter
    u = rng.standard_normal(3)
    u[2] = abs(u[2]) - 0.2  # mostly supratentorial
    u /= np.linalg.norm(u)
    return u * brain_axes * rng.uniform(0.5, 0.65) + jitter


def place_hematoma(
    spec: HematomaSpec,
    shape: HematomaShape,
    scale_mm: float,
    head: Head,
    rng: np.random.Generator,
    grid_for: Callable[[np.ndarray], PhantomGrid],
) -> np.ndarray:
    """Choose the hematoma centre (physical mm) so its surface lies inside the brain and FOV.

    ``grid_for`` gives the grid for a hematoma centre (the field of view may follow it).
    """
    head_centre, brain_axes = head.centre_mm, head.brain_semi_axes_mm
    margin = BRAIN_MARGIN_MM + spec.oedema_mm
    surface = shape.surface_points(scale_mm * 1.03, np.zeros(3))
    if spec.offset_mm is not None:
        centre = head_centre + np.asarray(spec.offset_mm, dtype=float)
        if not _fits(surface + centre, head_centre, brain_axes, margin, grid_for(centre)):
            raise InputError(
                f"phantom hematoma of {spec.volume_ml:g} mL at offset_mm={tuple(spec.offset_mm)} reaches "
                f"outside the brain (margin {margin:g} mm) or the field of view: move it towards the "
                "head centre, or lower volume_ml or lobulation"
            )
        return centre
    site = _draw_site(rng, brain_axes, head.scale)
    for step in np.linspace(1.0, 0.0, 21):
        centre = head_centre + site * step
        if _fits(surface + centre, head_centre, brain_axes, margin, grid_for(centre)):
            return centre
    raise InputError(
        f"phantom hematoma of {spec.volume_ml:g} mL does not fit inside the brain; lower volume_ml, "
        "lobulation or the semi-axis ratios"
    )
