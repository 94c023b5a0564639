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
from typing import Any, Mapping

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


#: The generator's truth beside hosp/ and icu/ of a synthetic set (its one owner: synth.OUTPUT_FILES).
from icu_cohort.synth import MARKER as SYNTH_MARKER  # noqa: E402
from icu_cohort.synth import OUTPUT_FILES as _SYNTH_FILES  # noqa: E402

TRUTH_JSON, TRUTH_STAYS = _SYNTH_FILES
#: How ground_truth.json names its writer ("generator": "icu-cohort synth (synthetic MIMIC-IV v2.2)").
GENERATOR_PREFIX = "icu-cohort synth"


def synthetic_source(data_dir: Path | str | None, kind: str | None) -> bool:
    """Whether a run's data may carry planted true effects: only a data folder the generator
    wrote. All of: the provenance says ``kind == "synthetic"`` (the loader's manifest; a
    MIMIC-IV source is ``"mimic"``), the folder holds the generator's marker file
    (``icu_cohort.synth.MARKER``) and both its truth files (``icu_cohort.synth.OUTPUT_FILES``),
    and ``ground_truth.json`` names the generator. So a ``ground_truth.json`` dropped beside a
    MIMIC-IV download never puts a "true effect" into its report (synthetic data have no
    patients; real data have no truth, and a number shown as one could reveal a count)."""
    if kind != "synthetic" or not data_dir:
        return False
    folder = Path(data_dir)
    if not (folder / SYNTH_MARKER).is_file() or not all((folder / f).is_file() for f in _SYNTH_FILES):
        return False
    try:
        gen = json.loads((folder / TRUTH_JSON).read_text(encoding="utf-8")).get("generator")
    except (ValueError, AttributeError, OSError):
        return False
    return isinstance(gen, str) and gen.startswith(GENERATOR_PREFIX)


def synthetic_truth(results_dir: Path, data_dir: Path | str | None, estimand: str | None,
                    horizon: float = 28.0, kind: str | None = "synthetic") -> dict[str, Any] | None:
    """The planted true effects behind a run on synthetic data, or ``None`` unless the data
    folder is the generator's (:func:`synthetic_source`, with the provenance's ``kind``).

    From both potential death days of each stay (``ground_truth_stays.csv``) the true
    marginal 28-day risk difference and hazard ratio (:func:`icu_cohort.analysis.truth.true_effects`)
    of two populations:

    * ``"focal"``: ``"treated"`` (ATT) or ``"control"`` (ATC);
    * ``"matched"``: the matched stays of the focal group (ATT: treated, ATC: control), the
      population the matched comparisons estimate;
    * ``"estimand"``: every cohort stay of the focal group, the population the estimand
      names (and the IPTW analysis with matching weights targets);

    plus ``"conditional_hr"``: the generator's planted conditional hazard ratio (given its
    covariates), the quantity a covariate-adjusted Cox model approaches. Stay ids are read
    only to join the truth to the cohort and are not kept.
    """
    if not synthetic_source(data_dir, kind):
        return None
    folder = Path(data_dir)  # type: ignore[arg-type]
    stays_path = folder / TRUTH_STAYS
    from icu_cohort.analysis.truth import true_effects

    truth = pd.read_csv(stays_path, usecols=["stay_id", "death_day_if_treated", "death_day_if_untreated"])
    focal = 0 if str(estimand or "ATT").upper() == "ATC" else 1
    out: dict[str, Any] = {"focal": "control" if focal == 0 else "treated", "horizon_days": float(horizon)}
    for key, name in (("estimand", "propensity.parquet"), ("matched", "matched.parquet")):
        path = Path(results_dir) / name
        if not path.is_file():
            continue
        ids = pd.read_parquet(path, columns=["stay_id", "treated"])
        ids = ids[pd.to_numeric(ids["treated"], errors="coerce") == focal].drop_duplicates("stay_id")
        rows = ids.merge(truth, on="stay_id", how="left", validate="one_to_one")
        missing = ~rows["stay_id"].isin(truth["stay_id"])
        if missing.any():
            raise ReportInputError(f"{TRUTH_STAYS} in {folder}: {int(missing.sum())} stays of {name} are not in it")
        if not len(rows):
            continue
        eff = true_effects(rows["death_day_if_treated"].to_numpy(float), rows["death_day_if_untreated"].to_numpy(float),
                           horizon=float(horizon))
        out[key] = {k: float(v) for k, v in eff.items()} | {"n_stays": int(len(rows))}
    gj = folder / TRUTH_JSON
    if gj.is_file():
        try:
            settings = json.loads(gj.read_text(encoding="utf-8")).get("settings", {})
            hr = settings.get("hazard_ratio")
            if hr is not None:
                out["conditional_hr"] = float(hr)
        except (ValueError, AttributeError) as err:
            raise ReportInputError(f"{TRUTH_JSON} in {folder}: not the generator's JSON ({err})") from None
    return out


def horizon_days(estimates: Mapping[str, Any]) -> int:
    """The outcome horizon, in days, at which the analysis read every risk and censored every
    model (``estimates.mortality_28d.horizon_days``: 28 for the SAE studies, 90 for ais_mgso4;
    the key keeps its CONTRACT name whatever the horizon). 28 when the estimates lack it."""
    mort = estimates.get("mortality_28d") if isinstance(estimates, Mapping) else None
    h = mort.get("horizon_days") if isinstance(mort, Mapping) else None
    return int(h) if isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0 else 28
