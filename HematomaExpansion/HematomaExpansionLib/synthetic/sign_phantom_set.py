"""Write the sign phantom set: every case's CT, segmentation and truth JSON, and ``manifest.csv``.

The manifest has the cohort manifest's ``case_id, ct, hematoma`` (paths relative to it) and the
truth: the scenario and its ``sign``, whether that sign is ``present``, the first inserted
structure's ``size_mm`` (diameter), ``contrast_hu``, ``gap_mm``, ``position_mm`` (LPS) and axial
slice ``z_mm``, the blob counts, and ``true_<sign>`` (0/1) for every sign; ``sign_phantoms.json``
beside it records how the set was made. The cases depend only on the seed and the counts
(byte-identical for any ``jobs``).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cohort.runner import map_in_order
from ..common.atomic import write_json_atomic, write_text_atomic
from ..common.errors import InputError
from ..common.versions import software_versions
from ..signs.report import SIGN_NAMES
from .case_files import write_case
from .sign_cases import RANGES, SignCase, plan_cases
from .sign_phantoms import SLICE_MM, make_sign_phantom

MANIFEST_COLUMNS = (
    "case_id",
    "ct",
    "hematoma",
    "truth",
    "scenario",
    "sign",
    "present",
    "size_mm",
    "contrast_hu",
    "gap_mm",
    "position_mm",
    "z_mm",
    "n_separate",
    "n_connected",
    "blobs_in_mask",
    *(f"true_{name}" for name in SIGN_NAMES),
    "clot_hu",
    "volume_ml",
    "noise_sd_hu",
    "slice_mm",
)
#: Beside the manifest: the seed, counts, slice thickness, parameter ranges and software versions.
SETTINGS_NAME = "sign_phantoms.json"


@dataclass(frozen=True)
class SignPhantomSet:
    """What :func:`write_sign_phantoms` wrote: case count, positives per sign, manifest, time."""

    n_cases: int
    positives: dict[str, int]
    manifest_path: Path
    elapsed_s: float

    def lines(self) -> list[str]:
        """Human-readable summary."""
        counts = ", ".join(f"{name} {n}" for name, n in self.positives.items())
        return [
            f"cases: {self.n_cases}; with each sign: {counts}",
            f"manifest: {self.manifest_path}",
            f"time: {self.elapsed_s:.1f} s",
        ]


def _number(value: float) -> str:
    return f"{value:.6g}"


def _manifest_row(case: SignCase, truth: dict[str, Any], files: dict[str, str]) -> dict[str, str]:
    structures = truth["structures"]
    first = structures[0] if structures else None
    kinds = [s["kind"] for s in structures]
    signs = truth["signs"]
    row = {
        **files,
        "case_id": case.case_id,
        "scenario": case.scenario,
        "sign": case.sign,
        "present": str(int(signs.get(case.sign, any(signs.values())))),
        "size_mm": _number(first["diameter_mm"]) if first else "",
        "contrast_hu": _number(first["contrast_hu"]) if first else "",
        "gap_mm": _number(first["gap_mm"]) if first else "",
        "position_mm": " ".join(_number(v) for v in first["position_mm"]) if first else "",
        "z_mm": _number(first["z_mm"]) if first else "",
        "n_separate": str(kinds.count("separate_blob")),
        "n_connected": str(kinds.count("connected_bubble")),
        "blobs_in_mask": str(int(case.blobs_in_mask)),
        "clot_hu": _number(case.clot_hu),
        "volume_ml": _number(truth["mask_volume_ml"]),
        "noise_sd_hu": _number(case.noise_sd_hu),
        "slice_mm": _number(truth["slice_mm"]),
    }
    return row | {f"true_{name}": str(int(signs[name])) for name in SIGN_NAMES}


def write_sign_case(case: SignCase, cases_dir: str | os.PathLike) -> dict[str, str]:
    """Make and write one case (CT, segmentation, truth JSON); return its manifest row."""
    phantom = make_sign_phantom(case)
    folder = Path(cases_dir)
    paths = write_case(phantom, folder, case.case_id)
    paths["truth"] = write_json_atomic(folder / f"{case.case_id}_truth.json", phantom.truth)
    files = {role: f"{folder.name}/{path.name}" for role, path in paths.items()}
    return _manifest_row(case, phantom.truth, files)


def _check(n_per_sign: int, n_per_control: int, jobs: int, out: Path) -> None:
    problems = []
    if not isinstance(n_per_sign, int) or n_per_sign < 2:
        problems.append(
            f"n_per_sign={n_per_sign!r} must be an integer >= 2 (one case each side of a threshold)"
        )
    if not isinstance(n_per_control, int) or n_per_control < 0:
        problems.append(f"n_per_control={n_per_control!r} must be an integer >= 0")
    if not isinstance(jobs, int) or jobs < 1:
        problems.append(f"jobs={jobs!r} must be a positive integer")
    if out.exists() and not out.is_dir():
        problems.append(f"output folder {out} exists and is not a folder")
    if problems:
        raise InputError("sign phantoms: " + "; ".join(problems))


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_settings(out: Path, seed: int, n_per_sign: int, n_per_control: int) -> Path:
    """Write :data:`SETTINGS_NAME`: how the set was made (its cases follow from these alone)."""
    settings = {"seed": seed, "n_per_sign": n_per_sign, "n_per_control": n_per_control, "slice_mm": SLICE_MM}
    software = software_versions(("numpy", "scipy", "SimpleITK"))
    return write_json_atomic(
        out / SETTINGS_NAME, {**settings, "parameter_ranges": RANGES, "software": software}
    )


def write_sign_phantoms(
    out_dir: str | os.PathLike,
    n_per_sign: int = 40,
    n_per_control: int = 10,
    seed: int = 0,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SignPhantomSet:
    """Write ``n_per_sign`` cases of each sign and ``n_per_control`` of each control under
    ``out_dir/cases`` and ``out_dir/manifest.csv`` (last, atomically); ``progress(done, total)``."""
    out = Path(out_dir)
    _check(n_per_sign, n_per_control, jobs, out)
    start = time.perf_counter()
    cases = plan_cases(seed, n_per_sign, n_per_control)
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    ordered = map_in_order(write_sign_case, [(case, cases_dir) for case in cases], jobs, progress)
    write_settings(out, seed, n_per_sign, n_per_control)
    manifest = _write_manifest(out / "manifest.csv", ordered)
    positives = {name: sum(int(r[f"true_{name}"]) for r in ordered) for name in SIGN_NAMES}
    return SignPhantomSet(len(cases), positives, manifest, time.perf_counter() - start)
