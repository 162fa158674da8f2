"""The sign validation run: ``measure_signs`` on every phantom case of a sign phantom manifest, the
agreement with the truth per sign, and the report (JSON, per-case CSV, markdown, example figures).

The cases run here or on a local cluster of ``jobs`` worker processes
(:func:`..cohort.runner.map_in_order`); a case that fails is listed with its error and left out of
the counts. The outputs appear together in
``out`` (:func:`..common.atomic.staged_folder`); other files there are kept.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from ..cohort.runner import map_in_order
from ..common.atomic import (
    staged_folder,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ..common.errors import InputError
from ..common.hashing import sha256_file
from ..common.jsonsafe import json_safe
from ..common.versions import software_versions
from ..reports.html import figure_png
from ..reports.sign_validation_figures import CasePanel, examples_figure
from ..reports.sign_validation_report import validation_markdown
from ..signs import SIGN_NAMES, SignParameters, measure_signs
from ..synthetic.sign_phantom_set import SETTINGS_NAME
from .sign_validation import calls_by_scenario, sign_agreement

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("case_id", "ct", "hematoma", "scenario", "sign", *(f"true_{s}" for s in SIGN_NAMES))
OUTPUT_NAMES = ("validation.json", "cases.csv", "README.md", "figures")
EXAMPLES_PER_KIND = 2


def read_sign_manifest(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a ``sign-phantoms`` manifest, with ``ct`` and ``hematoma`` made absolute."""
    manifest = Path(path)
    if not manifest.is_file():
        raise InputError(
            f"sign phantom manifest {manifest} not found; write one with `sign-phantoms --out DIR`"
        )
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in REQUIRED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise InputError(
            f"{manifest} is not a sign phantom manifest (no rows, or missing columns {missing}); "
            "write one with `sign-phantoms --out DIR`"
        )
    for row in rows:
        for role in ("ct", "hematoma"):
            file = manifest.parent / row[role]
            if not file.is_file():
                raise InputError(f"{manifest}: case {row['case_id']}: {role} file {file} not found")
            row[role] = str(file)
    return rows


def measure_case(ct_path: str, hematoma_path: str) -> dict[str, Any]:
    """``measure_signs`` of one case file pair: the signs as JSON-ready dicts and the time taken."""
    start = time.perf_counter()
    ct = sitk.ReadImage(ct_path)
    mask = sitk.Cast(sitk.ReadImage(hematoma_path) != 0, sitk.sitkUInt8)
    report = measure_signs(ct, mask, ct_source=ct_path, mask_source=hematoma_path).as_dict()
    return {"signs": {name: report[name] for name in SIGN_NAMES}, "elapsed_s": time.perf_counter() - start}


def _safe_measure(ct_path: str, hematoma_path: str) -> dict[str, Any]:
    try:
        return measure_case(ct_path, hematoma_path)
    except Exception as error:  # a failing case is reported, not fatal
        logger.warning("%s: %s", ct_path, error)
        return {"error": f"{type(error).__name__}: {error}"}


def _measure_all(
    rows: list[dict[str, str]], jobs: int, progress: Callable[[int, int], None] | None
) -> list[dict[str, Any]]:
    return map_in_order(_safe_measure, [(row["ct"], row["hematoma"]) for row in rows], jobs, progress)


def _case_rows(
    rows: list[dict[str, str]], results: list[dict[str, Any]]
) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "case_id",
        "scenario",
        "sign",
        *(f"{k}_{s}" for s in SIGN_NAMES for k in ("true", "called")),
        "error",
    ]
    table = []
    for row, result in zip(rows, results, strict=True):
        calls = [
            v
            for s in SIGN_NAMES
            for v in (row[f"true_{s}"], "" if "error" in result else int(result["signs"][s]["present"]))
        ]
        table.append([row["case_id"], row["scenario"], row["sign"], *calls, result.get("error", "")])
    return columns, table


def _pick_examples(
    sign: str, rows: list[dict[str, str]], results: list[dict[str, Any]]
) -> list[tuple[str, int]]:
    """Up to two cases of each outcome: true and false positives and negatives, own scenario first."""
    picked: list[tuple[str, int]] = []
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["sign"] != sign, i))
    for kind in ("TP", "FN", "FP", "TN"):
        found = 0
        for i in order:
            if "error" in results[i] or found == EXAMPLES_PER_KIND:
                continue
            truth, called = rows[i][f"true_{sign}"] == "1", results[i]["signs"][sign]["present"]
            if (
                kind
                == {(True, True): "TP", (True, False): "FN", (False, True): "FP", (False, False): "TN"}[
                    truth, called
                ]
            ):
                picked.append((kind, i))
                found += 1
    return picked


def _panel(kind: str, sign: str, row: dict[str, str], result: dict[str, Any]) -> CasePanel:
    """The axial slice of a case that shows the call: the evidence's slice, else the truth's."""
    evidence = result["signs"][sign]["evidence"]
    truth_position = [float(v) for v in row["position_mm"].split()] if row.get("position_mm") else None
    z_mm = evidence.get("z_mm")
    if z_mm is None:
        z_mm = truth_position[2] if truth_position else None
    markers = [p for p in [evidence.get("center_lps_mm")] if p]
    markers += [piece["center_lps_mm"] for piece in evidence.get("separate", [])]
    markers += evidence.get("connected_centers_lps_mm", [])
    return CasePanel(
        ct=sitk.ReadImage(row["ct"]),
        mask=sitk.ReadImage(row["hematoma"]),
        z_mm=z_mm,
        title=f"{kind}: {row['case_id']}",
        caption=f"truth {'yes' if row[f'true_{sign}'] == '1' else 'no'}; measured {evidence.get('measured', '')}",
        truth_mm=truth_position,
        evidence_mm=markers,
    )


def _figures(folder: Path, rows: list[dict[str, str]], results: list[dict[str, Any]]) -> dict[str, str]:
    names = {}
    for sign in SIGN_NAMES:
        panels = [_panel(kind, sign, rows[i], results[i]) for kind, i in _pick_examples(sign, rows, results)]
        if panels:
            names[sign] = f"figures/{sign}.png"
            write_bytes_atomic(folder / names[sign], figure_png(examples_figure(sign, panels), dpi=80))
    return names


def _document(
    manifest: Path, rows: list[dict[str, str]], results: list[dict[str, Any]], elapsed_s: float
) -> dict[str, Any]:
    ok = [i for i, r in enumerate(results) if "error" not in r]
    settings = manifest.parent / SETTINGS_NAME
    truth = {s: [rows[i][f"true_{s}"] == "1" for i in ok] for s in SIGN_NAMES}
    called = {s: [bool(results[i]["signs"][s]["present"]) for i in ok] for s in SIGN_NAMES}
    times = sorted(results[i]["elapsed_s"] for i in ok)
    return json_safe(
        {
            "manifest": str(manifest),
            "manifest_sha256": sha256_file(manifest),
            "phantoms": json.loads(settings.read_text()) if settings.is_file() else None,
            "n_cases": len(rows),
            "n_measured": len(ok),
            "failures": [
                {"case_id": rows[i]["case_id"], "error": r["error"]}
                for i, r in enumerate(results)
                if "error" in r
            ],
            "signs": {s: sign_agreement(truth[s], called[s]) for s in SIGN_NAMES} if ok else {},
            "by_scenario": calls_by_scenario([rows[i]["scenario"] for i in ok], truth, called),
            "measure_seconds": {"median": times[len(times) // 2] if times else None, "total": sum(times)},
            "elapsed_s": elapsed_s,
            "sign_parameters": SignParameters().as_dict(),
            "software": software_versions(("numpy", "scipy", "SimpleITK", "matplotlib")),
        },
        non_finite_as_none=True,
    )


def validate_signs(
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure every case of ``manifest``, compare with its truth, write the report into ``out_dir``."""
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"jobs={jobs!r} must be a positive integer")
    manifest_path = Path(manifest)
    rows = read_sign_manifest(manifest_path)
    start = time.perf_counter()
    results = _measure_all(rows, jobs, progress)
    document = _document(manifest_path, rows, results, time.perf_counter() - start)
    with staged_folder(out_dir, OUTPUT_NAMES) as folder:
        document["figures"] = _figures(folder, rows, results)
        write_json_atomic(folder / "validation.json", document)
        write_csv_atomic(folder / "cases.csv", *_case_rows(rows, results))
        write_text_atomic(folder / "README.md", validation_markdown(document))
    return document
