"""Command line: ``python -m HematomaExpansionLib <command>``, the same Logic as the Slicer module.

Each command loads its inputs into a Slicer scene (the application's inside Slicer, a headless one
on slicer-core elsewhere) and calls the module's Logic. Bad input ends with a one-line
``error: ...`` on stderr and exit code 2; an unexpected failure exits with 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_text_atomic
from .errors import InputError, ModelError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with aligned columns; floats with 2 decimals unless large."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return (
                f"{value:.4g}" if abs(value) >= 1e5 or (value != 0 and abs(value) < 1e-2) else f"{value:.2f}"
            )
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in text)) if text else len(c) for i, c in enumerate(columns)]
    line = "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
        for r in text
    ]
    return "\n".join([line, rule, *body])


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write rows as CSV (atomic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON (atomic, indented, UTF-8)."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


# --------------------------------------------------------------------------- commands


def _measurement_rows(measurements: dict[str, Any]) -> list[list[Any]]:
    from .measurements import unit_of

    return [[name, value, unit_of(name)] for name, value in measurements.items()]


def _load_case(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from . import mrml
    from .logic import HematomaExpansionLogicBase

    logic = HematomaExpansionLogicBase()
    volume = mrml.load_volume(logic.runtime, args.ct)
    segmentation = mrml.load_segmentation(logic.runtime, args.hematoma)
    return logic, volume, segmentation


def cmd_measure(args: argparse.Namespace) -> int:
    """Measure the hematoma of one case and print (and optionally write) the measurements."""
    logic, volume, segmentation = _load_case(args)
    measurements = logic.measure(volume, segmentation, args.segment)
    rows = _measurement_rows(measurements)
    _out(format_table(["measurement", "value", "unit"], rows))
    if args.out:
        path = write_csv_atomic(Path(args.out) / "measurements.csv", ["measurement", "value", "unit"], rows)
        _out(f"\nwritten: {path}")
    return EXIT_OK


def _extraction_config(args: argparse.Namespace) -> Any:
    from .extraction import ExtractionConfig
    from .slices import DeepSliceConfig

    deep = DeepSliceConfig(
        margin_mm=args.margin_mm,
        window_level_hu=args.window_level,
        window_width_hu=args.window_width,
        aggregation=args.aggregation,
        blank_outside=args.blank_outside,
    )
    return ExtractionConfig(
        families=tuple(args.families.split(",")),
        radiomics_params_path=args.params,
        deep=deep,
        backbone_weights=args.weights,
        device=args.device,
    )


def write_feature_set(feature_set: Any, out_dir: Path, stem: str = "features") -> list[Path]:
    """Write features as CSV (feature, value) and JSON (features, provenance, warnings)."""
    rows = [[name, repr(float(value))] for name, value in feature_set.features.items()]
    csv_path = write_csv_atomic(out_dir / f"{stem}.csv", ["feature", "value"], rows)
    document = {
        "features": feature_set.features,
        "provenance": feature_set.provenance,
        "warnings": feature_set.warnings,
    }
    return [csv_path, write_json_atomic(out_dir / f"{stem}.json", document)]


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract radiomics and deep features of one case into a folder."""
    from .deep_features import save_slice_pngs

    config = _extraction_config(args)
    logic, volume, segmentation = _load_case(args)
    result = logic.extract_features(volume, segmentation, args.segment, config)
    out = Path(args.out)
    written = write_feature_set(result.feature_set, out)
    if result.slice_images is not None:
        written += save_slice_pngs(result.slice_images, out / "slices", offsets_mm=config.deep.offsets_mm)
    counts = dict.fromkeys(("radiomics", "deep"), 0)
    for name in result.feature_set.features:
        counts["deep" if name.startswith("deep_") else "radiomics"] += 1
    _out(f"extracted {counts['radiomics']} radiomics and {counts['deep']} deep features")
    _out(
        f"largest axial cross-section: z = {result.cross_section.z_mm:.1f} mm, {result.cross_section.area_mm2:.0f} mm2"
    )
    for warning in result.feature_set.warnings:
        _out(f"warning: {warning}")
    for path in written:
        _out(f"written: {path}")
    return EXIT_OK


def cmd_phantom(args: argparse.Namespace) -> int:
    """Write one synthetic head-CT phantom case (CT .nrrd + hematoma .seg.nrrd)."""
    from .phantom import HematomaSpec, generate_phantom, write_case

    spec = HematomaSpec(volume_ml=args.volume_ml, lobulation=args.lobulation)
    phantom = generate_phantom(spec, preset=args.preset, seed=args.seed, tilt_deg=args.tilt_deg)
    paths = write_case(phantom, args.out, args.case_id)
    for kind, path in paths.items():
        _out(f"{kind}: {path}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the sample case, load it into a Slicer scene and run the Logic on it."""
    from .phantom import HematomaSpec, generate_phantom, write_case

    out = Path(args.out)
    phantom = generate_phantom(HematomaSpec(volume_ml=30.0, lobulation=0.15), preset="clinical", seed=7)
    paths = write_case(phantom, out / "sample", "sample")
    _out("HematomaExpansion demo: synthetic clinical head CT (0.45 x 0.45 x 5 mm) with a 30 mL hematoma")
    _out(f"  CT:           {paths['ct']}")
    _out(f"  segmentation: {paths['hematoma']}\n")
    measure_args = argparse.Namespace(ct=paths["ct"], hematoma=paths["hematoma"], segment=None, out=out)
    return cmd_measure(measure_args)


# --------------------------------------------------------------------------- parser


def _add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ct", required=True, type=Path, help="CT file (NRRD, NIfTI, MHA) or DICOM folder")
    parser.add_argument(
        "--hematoma",
        required=True,
        type=Path,
        help="segmentation (.seg.nrrd) or labelmap file of the hematoma",
    )
    parser.add_argument(
        "--segment", default=None, help="segment name, ID or label value (default: the hematoma)"
    )


def _add_extraction_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--families", default="radiomics,deep", help="comma-separated: radiomics, deep")
    parser.add_argument(
        "--params", type=Path, default=None, help="pyradiomics parameter file (default: bundled v1)"
    )
    parser.add_argument(
        "--weights",
        default="imagenet1k_v1",
        help="ResNet50 weights: imagenet1k_v1, imagenet1k_v2, a local .pth file (path#sha256=HEX), or random:SEED",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    parser.add_argument("--margin-mm", type=float, default=5.0, help="crop margin around the hematoma")
    parser.add_argument("--window-level", type=float, default=40.0, help="window level (HU)")
    parser.add_argument("--window-width", type=float, default=80.0, help="window width (HU)")
    parser.add_argument("--aggregation", choices=["mean", "concat"], default="mean")
    parser.add_argument("--blank-outside", action="store_true", help="blank pixels outside the hematoma")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="python -m HematomaExpansionLib",
        description="Hematoma expansion prediction from the first non-contrast head CT (research use only).",
    )
    parser.add_argument("--version", action="version", version=f"HematomaExpansion {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    measure = command("measure", cmd_measure, "hematoma volume, ABC/2, largest cross-section, HU statistics")
    _add_case_arguments(measure)
    measure.add_argument("--out", type=Path, help="folder for measurements.csv")

    extract = command("extract", cmd_extract, "radiomics and ResNet50 features of one case")
    _add_case_arguments(extract)
    extract.add_argument("--out", required=True, type=Path, help="output folder")
    _add_extraction_arguments(extract)

    phantom = command("phantom", cmd_phantom, "write a synthetic head-CT phantom case")
    phantom.add_argument("--out", required=True, type=Path)
    phantom.add_argument("--case-id", default="phantom")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--preset", choices=["clinical", "thin"], default="clinical")
    phantom.add_argument("--volume-ml", type=float, default=30.0)
    phantom.add_argument("--lobulation", type=float, default=0.0)
    phantom.add_argument("--tilt-deg", type=float, default=0.0)

    demo = command("demo", cmd_demo, "run the main job on the bundled sample case")
    demo.add_argument("--out", type=Path, default=Path("build/demo"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except (InputError, ModelError) as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    except Exception:
        logger.exception("unexpected failure in '%s'", args.command)
        return EXIT_UNEXPECTED
