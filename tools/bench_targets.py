"""The speed and memory targets of one ``make bench`` run, collected from its benchmark scripts.

Each benchmark (``bench.py``, ``bench_cold.py``, ``bench_cohort.py``) prints its own report and
records every target it measures with :func:`record`; ``make bench`` clears the record first
(``--reset``) and prints them all together last (no arguments), so that one run shows every target
with its measured figure and whether it was met, and whether the machine was busy while it was
measured (a busy machine's figures are slower than the targets' idle figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from HematomaExpansionLib.reports.text_table import format_table

RECORD_FILE = Path(
    os.environ.get(
        "HEMATOMA_BENCH_RECORD", Path(__file__).resolve().parents[1] / "build" / "bench" / "targets.jsonl"
    )
)


#: Other processes using more than this many CPU cores on average during a benchmark make it busy.
BUSY_OTHER_CORES = 0.25


def _cpu_accounts() -> tuple[float, float, float] | None:
    """(wall s, busy CPU s of the whole machine, CPU s of this process and the children it waited
    for); None where there is no ``/proc/stat`` (not Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(field) for field in fields)
    machine_s = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return time.monotonic(), machine_s, sum(u.ru_utime + u.ru_stime for u in usages)


class OtherWork:
    """The CPU time processes other than this benchmark (and the processes it started and waited
    for) use from its creation on: whether the machine was busy while the figures were measured."""

    def __init__(self) -> None:
        self.start = _cpu_accounts()

    def cores(self) -> float | None:
        """Cores that other processes used on average so far; None where it cannot be known."""
        end = _cpu_accounts()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        others_s = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, others_s / (end[0] - self.start[0]))

    def busy(self) -> bool:
        """Whether other processes used more than :data:`BUSY_OTHER_CORES` cores on average."""
        cores = self.cores()
        return cores is not None and cores > BUSY_OTHER_CORES


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as every benchmark prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(met: bool) -> str:
    """How a target reads in every report."""
    return "met" if met else "NOT MET"


def report(source: str, target: str, measured: str, met: bool, busy: bool) -> None:
    """Print one target's line (``target: measured -> verdict``) and :func:`record` it."""
    print(f"{target}: {measured} -> {verdict(met)}")
    record(source, target, measured, met, busy)


def record(source: str, target: str, measured: str, met: bool, busy: bool) -> None:
    """Add one measured target of ``source`` (a benchmark script's name) to this run's record."""
    RECORD_FILE.parent.mkdir(parents=True, exist_ok=True)
    line = {"source": source, "target": target, "measured": measured, "met": met, "busy": busy}
    with RECORD_FILE.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(line) + "\n")


def _summary() -> None:
    lines = RECORD_FILE.read_text(encoding="utf-8").splitlines() if RECORD_FILE.is_file() else []
    entries = [json.loads(line) for line in lines if line.strip()]
    print("# Targets of this make bench run (2 CPU cores; the targets are idle-machine medians)")
    if not entries:
        print(f"nothing recorded in {RECORD_FILE}: run the benchmarks first (make bench)")
        return
    rows = [
        [e["target"], e["measured"], verdict(e["met"]), "BUSY" if e["busy"] else "idle", e["source"]]
        for e in entries
    ]
    print(format_table(["target", "measured", "verdict", "machine", "benchmark"], rows))
    met = sum(e["met"] for e in entries)
    print(f"{met} of {len(entries)} targets met")
    busy = sorted({e["source"] for e in entries if e["busy"]})
    if busy:
        print(f"measured on a busy machine (figures slower than idle ones, not the targets' figures): {busy}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reset", action="store_true", help="clear the record (the start of a run)")
    args = parser.parse_args()
    if args.reset:
        RECORD_FILE.unlink(missing_ok=True)
    else:
        _summary()


if __name__ == "__main__":
    main()
