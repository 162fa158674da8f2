"""The ``sign-phantoms`` command: write the phantom cases of the sign validation and their truth."""

from __future__ import annotations

import argparse
import sys

from ..cohort.progress import ProgressBar
from .commands import EXIT_OK


def cmd_sign_phantoms(args: argparse.Namespace) -> int:
    """Write phantom CTs with each conventional sign at known size, contrast and position, the
    sign-free and tricky controls, and ``manifest.csv`` with the truth."""
    from ..synthetic.sign_cases import CONTROL_SCENARIOS, SIGN_SCENARIOS
    from ..synthetic.sign_phantom_set import write_sign_phantoms

    total = len(SIGN_SCENARIOS) * max(args.n_per_sign, 0) + len(CONTROL_SCENARIOS) * max(
        args.n_per_control, 0
    )
    bar = ProgressBar(total, enabled=not args.quiet)
    try:
        written = write_sign_phantoms(
            args.out,
            n_per_sign=args.n_per_sign,
            n_per_control=args.n_per_control,
            seed=args.seed,
            jobs=args.jobs,
            progress=lambda done, n: bar.advance(f"{done}/{n}"),
        )
    finally:
        bar.close()
    for line in written.lines():
        sys.stdout.write(line + "\n")
    return EXIT_OK
