"""Shared test fixtures: where the open MIMIC-IV demo is, and tiny MIMIC-format folders."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def demo_dir() -> Path:
    """The open MIMIC-IV demo: $ICU_COHORT_DEMO_DIR, else ../shared/mimic-iv-demo-2.2 beside the repo."""
    env = os.environ.get("ICU_COHORT_DEMO_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "mimic-iv-demo-2.2"


@pytest.fixture
def mimic_demo() -> Path:
    path = demo_dir()
    if not (path / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"the open MIMIC-IV demo is not at {path} (set ICU_COHORT_DEMO_DIR to its folder)")
    return path


def write_csv_gz(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a small gzip CSV the way PhysioNet does (empty string for NULL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    with gzip.open(path, "wt", newline="") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
