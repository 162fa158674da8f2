"""The ``signs`` command: the conventional CT signs of expansion of one case, as signs.json and a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..common.atomic import write_json_atomic
from ..reports.text_table import format_table
from .commands import EXIT_OK, _load_case

SIGNS_FILE = "signs.json"


def cmd_signs(args: argparse.Namespace) -> int:
    """Measure the blend, black hole, hypodensity (swirl), island and satellite signs, the Barras
    categories and the BAT score of one case; print them and write ``signs.json`` into ``--out``."""
    from ..signs.bat import check_onset_to_ct_h
    from ..signs.report import TABLE_COLUMNS

    onset = check_onset_to_ct_h(args.onset_to_ct_h)  # before loading the case
    logic, volume, segmentation = _load_case(args)
    report = logic.measure_signs(volume, segmentation, args.segment, onset)
    sys.stdout.write(format_table(TABLE_COLUMNS, report.table_rows()) + "\n")
    if report.any_present:
        sys.stdout.write(
            f"measured: {', '.join(report.present_titles)}; the expansion model was not built for "
            "patients with conventional signs\n"
        )
    path = write_json_atomic(Path(args.out) / SIGNS_FILE, report.as_dict())
    sys.stdout.write(f"written: {path}\n")
    return EXIT_OK
