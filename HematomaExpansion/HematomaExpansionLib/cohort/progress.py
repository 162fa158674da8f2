"""The progress bar of cohort runs on stderr (tqdm): cases done, failed and cached, rate and ETA."""

from __future__ import annotations

import sys
from typing import IO

from tqdm import tqdm


class ProgressBar:
    """A tqdm bar over a run's cases, e.g. ``cases:  5%| | 12/235 [00:32<09:55, 0.37 case/s, failed=0, cached=10]``.

    Disabled (writes nothing) unless ``enabled`` and the stream is a terminal, or ``force``.
    """

    def __init__(
        self, total: int, stream: IO[str] | None = None, enabled: bool = True, force: bool = False
    ) -> None:
        stream = stream if stream is not None else sys.stderr
        is_tty = getattr(stream, "isatty", lambda: False)()
        self.enabled = force or (enabled and is_tty)
        self.done = 0
        self.failed = 0
        self.cached = 0
        self._bar = tqdm(
            total=total, file=stream, disable=not self.enabled, desc="cases", unit="case", dynamic_ncols=True
        )
        self._bar.set_postfix(failed=0, cached=0, refresh=False)

    def advance(self, label: str, computed: bool = True, failed: bool = False) -> None:
        """Count one finished case (``computed`` False for a cache hit, ``failed`` for a failure)."""
        self.done += 1
        self.failed += int(failed)
        self.cached += int(not computed and not failed)
        self._bar.set_postfix(failed=self.failed, cached=self.cached, case=label, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        """End the bar."""
        self._bar.close()
