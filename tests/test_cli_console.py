"""What the console shows during a run: conversion progress (rows per second, time left),
the concept steps, a job's own error message, and where the results are."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest
from conftest import write_csv_gz

from icu_cohort import console, loader, pipeline
from icu_cohort.mimic_tables import table


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_rate_gives_rows_per_second_and_time_left_at_most_every_interval():
    clock = Clock()
    rate = console.Rate("rows", every=5.0, clock=clock)
    clock.t += 2.0
    assert rate.update(500, 0.1) is None  # too soon
    clock.t += 8.0  # 10 s after the start: 1,000 rows, a quarter of the file
    assert rate.update(1000, 0.25) == "1,000 rows, 100 rows/s, 25% done, about 30 s left"
    clock.t += 1.0
    assert rate.update(1100, 0.3) is None
    clock.t += 89.0  # 100 s: half done -> as long again
    assert rate.update(50_000, 0.5) == "50,000 rows, 500 rows/s, 50% done, about 1 min 40 s left"
    assert rate.message(10, None) == "10 rows, 0 rows/s"


def test_fmt_seconds():
    assert [console.fmt_seconds(s) for s in (0, 59.4, 61, 3600 + 125)] == ["0 s", "59 s", "1 min 01 s", "1 h 02 min"]


def test_progress_inside_a_logged_job_reaches_log_and_terminal(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", terminal)
    log = tmp_path / "job.log"
    with pipeline.logged(log):
        console.progress("concepts")("concept 3/40: sofa.sql")
    assert terminal.getvalue() == "concepts: concept 3/40: sofa.sql\n"
    assert "concept 3/40: sofa.sql" in log.read_text()


def test_progress_outside_a_job_writes_stderr_once(capsys):
    console.progress("synth")("chunk 1/2")
    assert capsys.readouterr().err == "synth: chunk 1/2\n"


def test_a_jobs_error_is_printed_on_the_terminal_not_only_in_its_log(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", terminal)
    log = tmp_path / "job.log"
    with pytest.raises(loader.MimicInputError):
        with pipeline.logged(log):
            raise loader.MimicInputError("hosp/patients.csv.gz: missing column(s) anchor_age")
    shown = terminal.getvalue()
    assert "MimicInputError: hosp/patients.csv.gz: missing column(s) anchor_age" in shown
    assert str(log) in shown
    assert "Traceback" in log.read_text()  # the full traceback stays in the log


def test_conversion_reports_rows_per_second_and_time_left(tmp_path, monkeypatch):
    pytest.importorskip("isal")
    spec = table("hosp/patients")
    header = list(spec.column_names)
    n = 3000
    rows = [[10_000_000 + i, "F", 60, 2150, "2011 - 2013", ""] for i in range(n)]
    src = write_csv_gz(tmp_path / "hosp" / "patients.csv.gz", header, rows)
    monkeypatch.setattr(loader, "PROGRESS_EVERY", 0.0)
    seen: list[str] = []
    got = loader.convert_table(src, tmp_path / "out" / "patients.parquet", spec, decompressor="isal",
                               progress=seen.append)
    assert got == n
    running = [m for m in seen if "rows/s" in m and "% done" in m]
    assert running, seen
    assert running[-1].startswith(f"patients.csv.gz: {n:,} rows, ")
    assert "100% done, about 0 s left" in running[-1]
    assert seen[-1].startswith(f"hosp/patients.csv.gz: {n:,} rows converted in ")
