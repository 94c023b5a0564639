"""Reading one study's results folder for the report.

Every table is checked for the columns the report uses: a missing column stops the report
with a message naming the file and the column (a stage wrote something else than agreed).
A missing *file* does not stop it: the section says the file was not produced, and the
report's header lists every missing input, so a partial run still gives a readable page.

Row-level files (``propensity.parquet``, ``matched.parquet``) are reduced here to group
sizes and histogram counts of the propensity score; only those aggregates leave this module.
Identifier columns are never read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icu_cohort.artifacts import REPORT_TABLES

# file key -> (file name, required columns): the stage agreements of icu_cohort.artifacts
CSV_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    key: (artifact.name, artifact.columns) for key, artifact in REPORT_TABLES.items()
}

TABLE1_GROUP_FIELDS = ("n", "mean", "sd", "median", "q1", "q3", "count", "pct", "n_missing")

IDENTIFIER_COLUMNS = ("subject_id", "hadm_id", "stay_id")

# Propensity-score histogram: fine fixed bins over [0, 1] (width 0.005); the figure sums
# neighbouring bins into 10-40 display bins chosen from the group sizes.
PS_BINS = 200


class ReportInputError(ValueError):
    """A results file exists but does not have the agreed columns."""


@dataclass
class PSHistograms:
    """Counts of stays per propensity-score bin, by sample ('before'/'after') and group."""

    edges: np.ndarray
    counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def group_size(self, sample: str, group: str) -> int:
        c = self.counts.get((sample, group))
        return int(c.sum()) if c is not None else 0


@dataclass
class StudyResults:
    """What the report needs from one results folder (aggregates only)."""

    results_dir: Path
    tables: dict[str, pd.DataFrame | None]
    estimates: dict[str, Any]
    ps_hist: PSHistograms | None
    group_sizes: dict[tuple[str, str], int]
    n_matched_sets: int | None
    missing: list[str]

    def table(self, key: str) -> pd.DataFrame | None:
        return self.tables.get(key)


def _read_csv(path: Path, columns: tuple[str, ...], extra_required: tuple[str, ...] = ()) -> pd.DataFrame:
    df = pd.read_csv(path, keep_default_na=True)
    df.columns = [str(c).strip() for c in df.columns]
    need = list(columns) + list(extra_required)
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise ReportInputError(
            f"{path.name}: missing column(s) {', '.join(absent)}; it has {', '.join(map(str, df.columns))}"
        )
    for ident in IDENTIFIER_COLUMNS:
        if ident in df.columns:
            df = df.drop(columns=[ident])
    return df


def _table1_required() -> tuple[str, ...]:
    cols = []
    for side in ("treated", "control"):
        cols += [f"{side}_{f}" for f in TABLE1_GROUP_FIELDS]
    return tuple(cols)


def _read_ps(path: Path, with_pair: bool) -> pd.DataFrame:
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    need = ["treated", "ps"] + (["pair_id"] if with_pair else [])
    absent = [c for c in need if c not in names]
    if absent:
        raise ReportInputError(f"{path.name}: missing column(s) {', '.join(absent)}")
    # Only these columns: identifiers are never loaded.
    return pd.read_parquet(path, columns=need)


def _histogram(ps: pd.Series, edges: np.ndarray) -> np.ndarray:
    values = pd.to_numeric(ps, errors="coerce").dropna().clip(0.0, 1.0).to_numpy()
    counts, _ = np.histogram(values, bins=edges)
    return counts.astype(int)


def _group_name(value: Any) -> str:
    try:
        return "treated" if int(value) == 1 else "control"
    except (TypeError, ValueError):
        return "treated" if str(value).strip().lower() in {"true", "treated", "yes"} else "control"


def load_results(results_dir: Path) -> StudyResults:
    """Read and check every input of the report (see module docstring)."""
    results_dir = Path(results_dir)
    tables: dict[str, pd.DataFrame | None] = {}
    missing: list[str] = []
    for key, (name, cols) in CSV_FILES.items():
        path = results_dir / name
        if not path.is_file():
            tables[key] = None
            missing.append(name)
            continue
        extra = _table1_required() if key == "table1" else ()
        tables[key] = _read_csv(path, cols, extra)

    est_path = results_dir / "estimates.json"
    if est_path.is_file():
        estimates = json.loads(est_path.read_text(encoding="utf-8"))
        if not isinstance(estimates, dict):
            raise ReportInputError("estimates.json: expected a JSON object at the top level")
    else:
        estimates = {}
        missing.append("estimates.json")

    edges = np.linspace(0.0, 1.0, PS_BINS + 1)
    hist = PSHistograms(edges=edges)
    sizes: dict[tuple[str, str], int] = {}
    n_sets: int | None = None
    have_hist = False
    for sample, name, with_pair in (("before", "propensity.parquet", False), ("after", "matched.parquet", True)):
        path = results_dir / name
        if not path.is_file():
            missing.append(name)
            continue
        df = _read_ps(path, with_pair)
        groups = df["treated"].map(_group_name)
        for group in ("treated", "control"):
            sel = df.loc[groups == group, "ps"]
            hist.counts[(sample, group)] = _histogram(sel, edges)
            sizes[(sample, group)] = int(len(sel))
        if with_pair:
            n_sets = int(df["pair_id"].nunique())
        have_hist = True
        del df
    return StudyResults(
        results_dir=results_dir,
        tables=tables,
        estimates=estimates,
        ps_hist=hist if have_hist else None,
        group_sizes=sizes,
        n_matched_sets=n_sets,
        missing=missing,
    )


def finite(x: Any) -> float | None:
    """A finite float or None."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
