"""The markdown report of the sign validation (``docs/sign_validation/README.md``), from its document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..signs import SIGN_NAMES, SIGN_TITLES
from .formatting import with_interval

_LIMITS = """\
## What this does and does not show

**Agreement with radiologists' reading on real scans is not measured here.** These are phantoms:
an ellipsoidal, homogeneous clot in a simplified head, with each sign inserted as a sphere of known
diameter and contrast, CT-like correlated noise and one-voxel partial volume, on a 0.45 x 0.45 x
2 mm grid. Real hematomas have irregular shapes, texture, oedema, beam hardening and motion, and
radiologists read the signs by eye on 5 mm slices; none of that is modelled. The figures say
whether the detectors implement the published definitions on cases whose truth is known, and how
close to each threshold they stay correct under noise: the deciding parameter of every sign case is
drawn uniformly within 10 HU (blend, black hole), 7 HU (hypodensity) or the size and distance
ranges below on both sides of the threshold, so a sensitivity below 1 near a threshold is expected.
"""

_TRUTH = """\
## Truth

Every case carries the truth of all five signs, decided by the published definitions from the
inserted structures (`synthetic/sign_cases.py`): blend = a hypodense region touching the clot
surface, >= 18 HU (Li 2015); black hole = a hypodense region encapsulated >= 3.5 mm inside the
clot, >= 28 HU (Li 2016); any hypodensity = any hypodense region >= 10 HU (Boulouis 2016 gives no
number; 10 HU is the project's operating threshold); island = >= 3 separate small hematomas or
>= 4 in all with bubbles on the clot surface (Li 2017); satellite = a separate hematoma < 10 mm in
diameter whose surface is 1-20 mm from the clot's (Shimoda 2017). Controls: a homogeneous clot, a
focus 15 HU lower (a hypodensity, but neither blend nor black hole), a satellite 25 mm away (no
satellite), a lobulated clot that is one piece on every axial slice (no island, no satellite).
Separate blobs are part of the segment in about half of the cases (`blobs_in_mask`).
"""


def _percent(interval: Mapping[str, Any]) -> str:
    return with_interval(interval["value"], interval["ci_low"], interval["ci_high"])


def _summary_table(signs: Mapping[str, Any]) -> list[str]:
    lines = [
        "| sign | positives | negatives | TP | FN | FP | TN | sensitivity (95% CI) | specificity (95% CI) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name in SIGN_NAMES:
        s = signs[name]
        lines.append(
            f"| {SIGN_TITLES[name]} | {s['positives']} | {s['negatives']} | {s['tp']} | {s['fn']} | {s['fp']} | "
            f"{s['tn']} | {_percent(s['sensitivity'])} | {_percent(s['specificity'])} |"
        )
    return lines


def _scenario_table(by_scenario: Mapping[str, Any]) -> list[str]:
    header = " | ".join(f"{name} (true/called/correct)" for name in SIGN_NAMES)
    lines = [f"| scenario | cases | {header} |", "| --- | ---: |" + " --- |" * len(SIGN_NAMES)]
    for scenario, signs in by_scenario.items():
        n = next(iter(signs.values()))["n"]
        cells = " | ".join(f"{c['true']}/{c['called']}/{c['correct']}" for c in signs.values())
        lines.append(f"| {scenario} | {n} | {cells} |")
    return lines


def _ranges(ranges: Mapping[str, Any]) -> list[str]:
    lines = ["| parameter | range drawn |", "| --- | --- |"]
    lines += [f"| `{name}` | {low:g} - {high:g} |" for name, (low, high) in ranges.items()]
    return lines


def _how_made(phantoms: Mapping[str, Any] | None) -> list[str]:
    if phantoms is None:
        return [
            "## How the phantoms were made",
            "",
            "Unknown: the manifest has no `sign_phantoms.json` beside it.",
            "",
        ]
    command = (
        f"python -m HematomaExpansionLib sign-phantoms --out DIR --n-per-sign {phantoms['n_per_sign']} "
        f"--n-per-control {phantoms['n_per_control']} --seed {phantoms['seed']}"
    )
    lines = ["## How the phantoms were made", "", "```", command]
    lines += [
        "python -m HematomaExpansionLib validate-signs --manifest DIR/manifest.csv --out docs/sign_validation"
    ]
    lines += ["```", "", f"Slices {phantoms['slice_mm']:g} mm; every parameter drawn uniformly from:", ""]
    return [*lines, *_ranges(phantoms["parameter_ranges"]), ""]


def validation_markdown(document: Mapping[str, Any]) -> str:
    """The report: summary table, calls per scenario, example figures, limits, truth, how made, provenance."""
    lines = [
        "# Validation of the measured signs on phantoms",
        "",
        "Written by `python -m HematomaExpansionLib validate-signs` from the cases of `sign-phantoms`;"
        " do not edit by hand.",
        "",
        f"Cases: {document['n_cases']}, measured: {document['n_measured']}, failed: {len(document['failures'])}. "
        f"Median time of `measure_signs` per case: {document['measure_seconds']['median']:.2f} s.",
        "",
        "**Agreement with radiologists' reading on real scans is not measured here.**",
        "",
        "## Sensitivity and specificity at the published thresholds",
        "",
        *_summary_table(document["signs"]),
        "",
        "Intervals: Wilson score, 95%. Every case counts for every sign (a satellite case is a negative"
        " for the black hole sign, and so on).",
        "",
        "## Calls per scenario",
        "",
        *_scenario_table(document["by_scenario"]),
        "",
        "## Examples of correct and wrong calls",
        "",
    ]
    for name, path in document["figures"].items():
        lines += [f"### {SIGN_TITLES[name]}", "", f"![{SIGN_TITLES[name]}]({path})", ""]
    lines += [_LIMITS, _TRUTH, *_how_made(document["phantoms"])]
    if document["failures"]:
        lines += (
            ["## Failed cases", ""]
            + [f"- `{f['case_id']}`: {f['error']}" for f in document["failures"]]
            + [""]
        )
    versions = ", ".join(f"{k} {v}" for k, v in document["software"].items())
    lines += ["## Provenance", "", f"Manifest SHA-256 `{document['manifest_sha256']}`; {versions}.", ""]
    lines += ["Sign parameters: `validation.json` (`sign_parameters`); per-case calls: `cases.csv`.", ""]
    return "\n".join(lines)
