"""A self-overwriting progress line for cohort runs on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO


def format_duration(seconds: float) -> str:
    """'m:ss', or 'h:mm:ss' from one hour on."""
    total = round(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """One self-overwriting status line, e.g. ``[ 12/235]  5.1%  elapsed 0:32  ETA 10:31  case_017``.

    The ETA extrapolates the time per computed case (cached cases cost nothing) to the cases left.
    Disabled (writes nothing) unless ``enabled`` and the stream is a terminal, or ``force``.
    """

    def __init__(
        self,
        total: int,
        stream: IO[str] | None = None,
        enabled: bool = True,
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = force or (enabled and is_tty)
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.computed = 0
        self._width = 0

    def line(self, label: str) -> str:
        """The status text after ``done`` of ``total`` cases."""
        elapsed = self.clock() - self.started
        left = self.total - self.done
        eta = format_duration(elapsed / self.computed * left) if self.computed else "-:--"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        digits = len(str(self.total))
        return (
            f"[{self.done:>{digits}}/{self.total}] {percent:4.1f}%  "
            f"elapsed {format_duration(elapsed)}  ETA {eta}  {label}"
        )

    def advance(self, label: str, computed: bool = True) -> None:
        """Count one finished case (``computed`` False for a cache hit) and redraw."""
        self.done += 1
        self.computed += int(computed)
        if self.enabled:
            text = self.line(label)
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)

    def close(self) -> None:
        """End the status line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
