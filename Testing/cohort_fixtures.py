"""Small phantom cases and manifests for the cohort tests.

A clinical phantom (512 x 512 x 30 voxels) is reduced to every 4th voxel in-plane (1.8 mm) and
the slices around the hematoma, so that a case keeps air, bone and the hematoma but costs well
under a second to extract. Expected volumes are voxel counts of the written masks.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from HematomaExpansionLib.synthetic import HematomaSpec, Phantom, generate_phantom, write_case


def small_phantom(volume_ml: float, seed: int) -> Phantom:
    """A clinical phantom reduced to 128 x 128 in-plane and the hematoma's slices +- 2."""
    phantom = generate_phantom(HematomaSpec(volume_ml=volume_ml), preset="clinical", seed=seed)
    k = np.nonzero(sitk.GetArrayViewFromImage(phantom.mask))[0]
    z0, z1 = max(int(k.min()) - 2, 0), min(int(k.max()) + 3, phantom.ct.GetSize()[2])
    return Phantom(phantom.ct[::4, ::4, z0:z1], phantom.mask[::4, ::4, z0:z1], phantom.truth)


def mask_volume_ml(mask: sitk.Image) -> float:
    """Volume of a 0/1 mask by counting voxels."""
    count = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    return count * float(np.prod(mask.GetSpacing())) / 1000.0


def write_small_case(folder: Path, case_id: str, volume_ml: float, seed: int) -> dict[str, object]:
    """Write a small case; returns its paths and the mask volume in mL."""
    phantom = small_phantom(volume_ml, seed)
    paths = write_case(phantom, folder, case_id)
    return {**paths, "volume_ml": mask_volume_ml(phantom.mask)}


def write_manifest(path: Path, columns: list[str], rows: list[list[object]]) -> Path:
    """Write a manifest CSV."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
