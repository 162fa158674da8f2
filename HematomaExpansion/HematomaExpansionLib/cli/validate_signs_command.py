"""The ``validate-signs`` command: measure the signs on the sign phantoms and report the agreement."""

from __future__ import annotations

import argparse
import sys

from ..cohort.progress import ProgressBar
from .commands import EXIT_OK


def cmd_validate_signs(args: argparse.Namespace) -> int:
    """Run ``measure_signs`` on every case of a ``sign-phantoms`` manifest; print sensitivity and
    specificity per sign and write validation.json, cases.csv, README.md and figures/ into ``--out``."""
    from ..evaluation.sign_validation_run import read_sign_manifest, validate_signs
    from ..reports.formatting import with_interval
    from ..reports.text_table import format_table
    from ..signs import SIGN_TITLES

    total = len(read_sign_manifest(args.manifest))
    bar = ProgressBar(total, enabled=not args.quiet)
    try:
        document = validate_signs(
            args.manifest, args.out, jobs=args.jobs, progress=lambda done, n: bar.advance(f"{done}/{n}")
        )
    finally:
        bar.close()
    rows = [
        [
            SIGN_TITLES[name],
            f"{s['positives']}/{s['negatives']}",
            f"{s['tp']}/{s['fn']}/{s['fp']}/{s['tn']}",
            with_interval(s["sensitivity"]["value"], s["sensitivity"]["ci_low"], s["sensitivity"]["ci_high"]),
            with_interval(s["specificity"]["value"], s["specificity"]["ci_low"], s["specificity"]["ci_high"]),
        ]
        for name, s in document["signs"].items()
    ]
    columns = ["sign", "pos/neg", "TP/FN/FP/TN", "sensitivity (95% CI)", "specificity (95% CI)"]
    sys.stdout.write(format_table(columns, rows) + "\n")
    sys.stdout.write(
        f"cases: {document['n_cases']}, failed: {len(document['failures'])}; report: {args.out}\n"
    )
    return EXIT_OK
