"""Command line: ``python -m HematomaExpansionLib <command>``, the same Logic as the Slicer module.

Each command loads its inputs into a Slicer scene (the application's inside Slicer, a headless one
on slicer-core elsewhere) and calls the module's Logic. Bad input ends with a one-line
``error: ...`` on stderr and exit code 2 (an ``--out`` that is a file too, before any work); a
full disk ends with a one-line error and exit code 1; Ctrl-C ends with one line and exit code 130
(what was written is complete, and a cohort command resumes when run again); an unexpected failure
exits with 1 and logs its traceback. The parser is built
from :data:`.arguments.COMMANDS` (arguments as data); the handlers are in :mod:`.commands`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ..common.atomic import disk_full_message, is_disk_full, require_folder
from ..common.errors import InputError, ModelError
from .arguments import build_parser
from .commands import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNEXPECTED

logger = logging.getLogger(__name__)

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if getattr(args, "out", None) is not None:
            require_folder(args.out)
        return args.handler(args)
    except (InputError, ModelError) as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write(
            f"interrupted: '{args.command}' stopped; what it wrote is complete "
            "(a cohort command resumes from its cached cases when run again)\n"
        )
        return EXIT_INTERRUPTED
    except OSError as error:
        if is_disk_full(error):
            sys.stderr.write(f"error: {disk_full_message(error)}\n")
            return EXIT_UNEXPECTED
        logger.exception("unexpected failure in '%s'", args.command)
        return EXIT_UNEXPECTED
    except Exception:
        logger.exception("unexpected failure in '%s'", args.command)
        return EXIT_UNEXPECTED
