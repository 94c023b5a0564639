"""Messages for the person watching the run: progress of long steps and a job's own error.

A Snakemake job's stage runs inside :func:`icu_cohort.pipeline.logged`, which sends stdout,
stderr and logging to the job's log file. :func:`progress` returns a callback that writes a
message to the log *and* to the terminal (the process's original stderr, where Snakemake
shows a job's output), prefixed with the job's name; outside such a job it writes to stderr
once. :class:`Rate` turns a running count into "rows per second and time left".
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Callable, Iterator

log = logging.getLogger("icu_cohort")


def to_terminal(message: str) -> None:
    """Write one line to the terminal, even while stderr goes to a log file."""
    stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
    try:
        print(message, file=stream, flush=True)
    except (OSError, ValueError):  # a closed terminal never fails the job
        pass


_JOB_DEPTH = 0


@contextlib.contextmanager
def job() -> Iterator[None]:
    """Mark the block as a job whose stderr goes to its log (:func:`icu_cohort.pipeline.logged`)."""
    global _JOB_DEPTH
    _JOB_DEPTH += 1
    try:
        yield
    finally:
        _JOB_DEPTH -= 1


def redirected() -> bool:
    """Whether we are inside a job whose stderr goes to its log (:func:`job`)."""
    return _JOB_DEPTH > 0


def progress(prefix: str = "") -> Callable[[str], None]:
    """A progress callback: each message goes to the log (logging) and, inside a job whose
    stderr is redirected to its log, also to the terminal as ``prefix: message``."""
    head = f"{prefix}: " if prefix else ""

    def say(message: str) -> None:
        if redirected():
            log.info("%s", message)
            to_terminal(head + message)
        else:
            print(head + message, file=sys.stderr, flush=True)

    return say


def fmt_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class Rate:
    """Progress of one long loop: ``done`` units (rows) and the share of the work done.

    :meth:`update` returns a message at most every ``every`` seconds (else ``None``):
    ``"1,234,567 rows, 456,789 rows/s, 37% done, about 12 s left"``. The time left is the
    elapsed time scaled by the share not yet done (the rate so far held constant).
    """

    def __init__(self, unit: str = "rows", every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.unit = unit
        self.every = float(every)
        self.clock = clock
        self.start = clock()
        self.last = self.start

    def message(self, done: int, fraction: float | None) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        text = f"{done:,} {self.unit}, {done / elapsed:,.0f} {self.unit}/s"
        if fraction is not None and 0 < fraction <= 1:
            left = elapsed * (1 - fraction) / fraction
            text += f", {100 * fraction:.0f}% done, about {fmt_seconds(left)} left"
        return text

    def update(self, done: int, fraction: float | None = None) -> str | None:
        now = self.clock()
        if now - self.last < self.every:
            return None
        self.last = now
        return self.message(done, fraction)


__all__ = ["progress", "to_terminal", "job", "redirected", "fmt_seconds", "Rate"]
