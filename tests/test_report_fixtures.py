"""Hand-built results folder for the report tests (no pipeline run needed).

``make_results(folder)`` writes every file the report reads, with the agreed names and
columns, holding a few deliberate traps: an attrition step that excludes 7 stays, small
counts in Table 1, at-risk numbers and subgroups, identifiers in the Parquet files, and
unknown extra keys in ``estimates.json``.

Run as a script to write a preview report: ``python tests/test_report_fixtures.py OUT_DIR``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]

# Distinctive identifiers: none of them may ever appear in the report.
STAY_IDS = [31_000_000 + 7919 * i for i in range(1, 601)]
SUBJECT_IDS = [17_000_000 + 104_729 * i for i in range(1, 601)]
HADM_IDS = [26_000_000 + 15_485 * i for i in range(1, 601)]
EXCLUDED_SMALL = 7  # the attrition step that excludes 7 stays

STUDY = {
    "name": "sae_fixture",
    "title": "IV magnesium sulfate and 28-day mortality in sepsis-associated encephalopathy",
    "question": (
        "Among adult ICU patients with sepsis-associated encephalopathy, is intravenous magnesium sulfate "
        "during the ICU stay associated with lower 28-day mortality than no magnesium sulfate?"
    ),
    "description": "Fixture study written by the report tests.",
    "cohort": {
        "age_min": 18,
        "first_icu_stay_only": True,
        "sepsis": "Sepsis-3: suspected infection and SOFA >= 2",
        "encephalopathy": "GCS < 15 or delirium, excluding other causes",
        "exclusions": ["ICU stay shorter than 24 h", "traumatic brain injury", "stroke"],
    },
    "exposure": {"label": "IV MgSO4", "window": "any time during the ICU stay"},
    "outcome": {"label": "Death within 28 days of ICU admission", "horizon_days": 28},
    "covariates": [
        {"name": "age", "label": "Age, years"},
        {"name": "male", "label": "Male sex"},
        {"name": "sofa", "label": "SOFA score"},
        {"name": "lactate", "label": "Lactate, mmol/L"},
        {"name": "ventilation", "label": "Mechanical ventilation"},
        {"name": "race", "label": "Race"},
    ],
    "analysis": {"estimand": "ATT", "caliper_sd": 0.2, "ratio": 1, "scale": "logit", "seed": 42},
}

COVARIATES = ["age", "male", "sofa", "lactate", "ventilation", "race", "gcs", "creatinine", "heart_rate",
              "map", "charlson", "vasopressor"]


def _km(times: np.ndarray, events: np.ndarray) -> pd.DataFrame:
    order = np.argsort(times, kind="mergesort")
    t, e = times[order], events[order]
    rows, s, var = [], 1.0, 0.0
    n = len(t)
    for u in np.unique(t):
        at_risk = int((t >= u).sum())
        d = int(((t == u) & (e == 1)).sum())
        if d == 0:
            continue
        s *= 1 - d / at_risk
        var += d / (at_risk * (at_risk - d)) if at_risk > d else 0.0
        se = math.sqrt(var)
        # log(-log) interval
        if 0 < s < 1:
            z = 1.96 * se / abs(math.log(s))
            lo, hi = s ** math.exp(z), s ** math.exp(-z)
        else:
            lo = hi = s
        rows.append((float(u), s, lo, hi, at_risk, d))
    assert n > 0
    return pd.DataFrame(rows, columns=["time", "survival", "ci_lower", "ci_upper", "n_at_risk", "n_events"])


def make_results(folder: Path, *, with_optional: bool = True, extra_covariates: int = 0,
                 n_unmatched_treated: int | None = None) -> tuple[Path, dict, dict]:
    """Write a results folder; return (folder, study dict, provenance dict).

    ``n_unmatched_treated``: match 1:1 without the fixture's caliper and keep all but that
    many treated stays matched (the small-count case of 1:1 matching: the pairs are the
    matched treated n and the matched control n at once).

    ``extra_covariates``: that many more covariates (alternately continuous and binary) in
    the balance, missingness, Table 1, Cox and propensity-model outputs, for a report of a
    real study's length (the SAE study has 37).
    """
    more = [f"extra_{i:02d}" for i in range(1, extra_covariates + 1)]
    covariates = COVARIATES + more
    from icu_cohort.report.provenance import collect_provenance

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240601)

    pd.DataFrame({
        "step": [0, 1, 2, 3, 4, 5],
        "description": [
            "All ICU stays in MIMIC-IV",
            "First ICU stay of adult patients (age 18 or over)",
            "Sepsis-3 within 24 h of ICU admission",
            "Encephalopathy: GCS below 15 or delirium",
            "No traumatic brain injury, stroke or other cause of encephalopathy",
            "ICU stay of 24 hours or longer",
        ],
        "n_remaining": [73181, 50920, 21374, 9210, 9203, 600],
        "n_excluded": [0, 22261, 29546, 12164, EXCLUDED_SMALL, 8603],
    }).to_csv(folder / "attrition.csv", index=False)

    n = 600
    treated = (rng.random(n) < 0.3).astype(int)
    logit = -0.9 + 1.2 * treated + rng.normal(0, 0.8, n)
    ps = 1 / (1 + np.exp(-logit))
    prop = pd.DataFrame({"stay_id": STAY_IDS, "subject_id": SUBJECT_IDS, "hadm_id": HADM_IDS,
                         "treated": treated, "ps": ps})
    prop[["stay_id", "treated", "ps"]].to_parquet(folder / "propensity.parquet", index=False)
    # Greedy 1:1 matching on ps (good enough for a fixture).
    t_idx = np.where(treated == 1)[0]
    c_idx = list(np.where(treated == 0)[0])
    pairs = []
    for k, i in enumerate(t_idx):
        if not c_idx:
            break
        j = min(c_idx, key=lambda c: abs(ps[c] - ps[i]))
        if abs(ps[j] - ps[i]) < 0.05 or n_unmatched_treated is not None:
            pairs.append((i, j, k))
            c_idx.remove(j)
    if n_unmatched_treated is not None:
        pairs = pairs[:len(t_idx) - n_unmatched_treated]
    rows = []
    for i, j, k in pairs:
        rows.append((STAY_IDS[i], 1, ps[i], k))
        rows.append((STAY_IDS[j], 0, ps[j], k))
    matched = pd.DataFrame(rows, columns=["stay_id", "treated", "ps", "pair_id"])
    matched.to_parquet(folder / "matched.parquet", index=False)
    n_t, n_c = int(treated.sum()), int(n - treated.sum())
    n_pairs = len(pairs)

    smd_before = np.round(rng.uniform(0.02, 0.45, len(COVARIATES)), 4)
    smd_after = np.round(rng.uniform(0.0, 0.08, len(COVARIATES)), 4)
    smd_after[-1] = 0.12  # one imbalanced covariate
    if more:
        erng = np.random.default_rng(7)  # a separate stream: the base fixture stays the same
        smd_before = np.r_[smd_before, np.round(erng.uniform(0.0, 0.3, len(more)), 4)]
        smd_after = np.r_[smd_after, np.round(erng.uniform(0.0, 0.08, len(more)), 4)]
    bal = pd.DataFrame({
        "covariate": covariates,
        "level": [""] * len(covariates),
        "kind": ["continuous"] * len(covariates),
        "smd_before": smd_before,
        "smd_after": smd_after,
        "variance_ratio_before": np.round(np.r_[rng.uniform(0.6, 1.6, len(COVARIATES)), np.ones(len(more))], 3),
        "variance_ratio_after": np.round(np.r_[rng.uniform(0.85, 1.15, len(COVARIATES)), np.ones(len(more))], 3),
        "imbalanced_after": np.abs(smd_after) > 0.1,
    })
    # as the analysis writes them: a categorical level, a missing-value indicator, the score
    extra = pd.DataFrame({
        "covariate": ["race", "lactate", "ps"], "level": ["OTHER", "", ""], "kind": ["categorical", "missing", "score"],
        "smd_before": [0.08, 0.05, 0.79], "smd_after": [0.02, -0.01, 0.004],
        "variance_ratio_before": [np.nan, np.nan, 0.46], "variance_ratio_after": [np.nan, np.nan, 0.98],
        "imbalanced_after": [False, False, False],
    })
    pd.concat([bal, extra], ignore_index=True).to_csv(folder / "balance.csv", index=False)

    pd.DataFrame({
        "covariate": covariates,
        "n_missing": [0, 0, 3, 142, 0, 12, 5, 20, 0, 0, 0, 0] + [0] * len(more),
        "fraction_missing": [0, 0, 3 / n, 142 / n, 0, 12 / n, 5 / n, 20 / n, 0, 0, 0, 0] + [0] * len(more),
    }).to_csv(folder / "covariate_missingness.csv", index=False)

    # Table 1 (long)
    fields = ["n", "mean", "sd", "median", "q1", "q3", "count", "pct", "n_missing"]
    t1 = []

    def row(sample, variable, level, kind, tr, co, smd):
        r = {"sample": sample, "variable": variable, "level": level, "kind": kind}
        for side, vals in (("treated", tr), ("control", co)):
            for f in fields:
                r[f"{side}_{f}"] = vals.get(f, np.nan)
        r["smd"] = smd
        t1.append(r)

    for sample, nt, nc in (("before", n_t, n_c), ("after", n_pairs, n_pairs)):
        row(sample, "N", None, "count", {"n": nt}, {"n": nc}, np.nan)  # group sizes, as the analysis writes them
        row(sample, "age", None, "continuous",
            {"n": nt, "mean": 66.4, "sd": 14.2, "median": 67.0, "q1": 56.0, "q3": 78.0, "n_missing": 0},
            {"n": nc, "mean": 64.1, "sd": 15.8, "median": 65.0, "q1": 53.0, "q3": 77.0, "n_missing": 0},
            0.152 if sample == "before" else 0.021)
        row(sample, "lactate", None, "continuous",
            {"n": nt, "mean": 2.71, "sd": 1.9, "median": 2.2, "q1": 1.5, "q3": 3.3, "n_missing": 41},
            {"n": nc, "mean": 2.95, "sd": 2.2, "median": 2.4, "q1": 1.6, "q3": 3.6, "n_missing": 101},
            -0.114 if sample == "before" else 0.033)
        male_t, male_c = (int(0.58 * nt), int(0.55 * nc))
        row(sample, "male", "1", "binary", {"n": nt, "count": male_t, "pct": 100 * male_t / nt, "n_missing": 0},
            {"n": nc, "count": male_c, "pct": 100 * male_c / nc, "n_missing": 0}, 0.06 if sample == "before" else 0.01)
        # small counts: ventilation count 4 in treated after matching; complement small in control
        vt = 4 if sample == "after" else 57
        vc = nc - 3 if sample == "after" else 211
        row(sample, "ventilation", "1", "binary", {"n": nt, "count": vt, "pct": 100 * vt / nt, "n_missing": 0},
            {"n": nc, "count": vc, "pct": 100 * vc / nc, "n_missing": 0}, 0.2 if sample == "before" else 0.05)
        levels = [("White", 0.64), ("Black", 0.16), ("Hispanic", 0.08), ("Asian", 0.0)]
        for lev, frac in levels:
            ct = int(frac * nt) if lev != "Asian" else 6
            cc = int(frac * nc) if lev != "Asian" else 14
            row(sample, "race", lev, "categorical",
                {"n": nt, "count": ct, "pct": 100 * ct / nt, "n_missing": 5},
                {"n": nc, "count": cc, "pct": 100 * cc / nc, "n_missing": 7}, 0.09 if sample == "before" else 0.04)
        for j, name in enumerate(more):
            if j % 2:
                ct_, cc_ = int(0.3 * nt) + j, int(0.35 * nc) + j
                row(sample, name, "1", "binary", {"n": nt, "count": ct_, "pct": 100 * ct_ / nt, "n_missing": 0},
                    {"n": nc, "count": cc_, "pct": 100 * cc_ / nc, "n_missing": 0}, 0.05)
            else:
                row(sample, name, None, "continuous",
                    {"n": nt, "mean": 50.0 + j, "sd": 9.5, "median": 49.0 + j, "q1": 42.0, "q3": 58.0, "n_missing": 0},
                    {"n": nc, "mean": 51.0 + j, "sd": 10.1, "median": 50.0 + j, "q1": 43.0, "q3": 59.0, "n_missing": 0},
                    0.04)
    pd.DataFrame(t1).to_csv(folder / "table1.csv", index=False)

    # Kaplan-Meier
    km_rows, risk_rows = [], []
    for sample, mask in (("cohort", np.ones(n, bool)), ("matched", np.isin(np.arange(n), [p[0] for p in pairs] + [p[1] for p in pairs]))):
        for group, g in (("treated", 1), ("control", 0)):
            sel = mask & (treated == g)
            k = int(sel.sum())
            rate = 0.010 if g == 1 else 0.013
            tt = rng.exponential(1 / rate, k)
            ev = (tt <= 28).astype(int)
            tt = np.minimum(np.ceil(tt * 4) / 4, 28.0)
            km = _km(tt, ev)
            km.insert(0, "group", group)
            km.insert(0, "sample", sample)
            km_rows.append(km)
            for tp in (0, 7, 14, 21, 28):
                nr = int((tt >= tp).sum()) if tp < 28 else int(((tt >= 28) & (ev == 0)).sum())
                risk_rows.append((sample, group, tp, nr if tp < 28 else 9))  # 9: a small at-risk count
    pd.concat(km_rows).to_csv(folder / "km.csv", index=False)
    pd.DataFrame(risk_rows, columns=["sample", "group", "time", "n_at_risk"]).to_csv(folder / "km_at_risk.csv", index=False)

    if with_optional:
        pd.DataFrame({
            "term": ["treated", "age", "sofa", "lactate", "male", "ventilation"] + more,
            "hr": [0.81, 1.02, 1.11, 1.07, 0.97, 1.35] + [1.01] * len(more),
            "ci_low": [0.66, 1.01, 1.06, 1.02, 0.80, 1.10] + [0.95] * len(more),
            "ci_high": [0.99, 1.03, 1.16, 1.12, 1.18, 1.66] + [1.07] * len(more),
            "p": [0.041, 0.0004, 1e-6, 0.006, 0.77, 0.004] + [0.6] * len(more),
        }).to_csv(folder / "cox_multivariable.csv", index=False)
        pd.DataFrame({
            "subgroup": ["age_group", "age_group", "male", "male", "ventilation", "ventilation"],
            "level": ["< 65", ">= 65", "female", "male", "no", "yes"],
            "n": [300, 300, 260, 340, 590, 10],
            "n_treated": [90, 88, 80, 98, 170, 8],
            "n_control": [210, 212, 180, 242, 420, 2],
            "events": [41, 77, 50, 68, 113, 5],
            "hr": [0.72, 0.88, 0.79, 0.83, 0.80, np.nan],
            "ci_low": [0.50, 0.66, 0.55, 0.62, 0.64, np.nan],
            "ci_high": [1.04, 1.17, 1.13, 1.11, 1.00, np.nan],
            "p": [0.08, 0.38, 0.2, 0.21, 0.05, np.nan],
            "p_interaction": [0.41, 0.41, 0.85, 0.85, np.nan, np.nan],
        }).to_csv(folder / "subgroups.csv", index=False)
        pd.DataFrame({
            "model": ["cox_matched", "cox_multivariable", "cox_multivariable", "cox_multivariable"],
            "term": ["treated", "treated", "age", "global"],
            "test_statistic": [0.84, 1.12, 4.51, 9.8],
            "p": [0.36, 0.29, 0.034, 0.13],
        }).to_csv(folder / "ph_test.csv", index=False)
        ps_rows = []
        for sample, frame in (("before", prop), ("after", matched)):
            for group, g in (("treated", 1), ("control", 0)):
                v = frame.loc[frame["treated"] == g, "ps"]
                ps_rows.append((sample, group, len(v), v.mean(), v.std(), v.min(), v.quantile(0.25), v.median(),
                                v.quantile(0.75), v.max()))
        pd.DataFrame(ps_rows, columns=["sample", "group", "n", "mean", "sd", "min", "q1", "median", "q3", "max"]).to_csv(
            folder / "ps_summary.csv", index=False)

    estimates = {
        "study": STUDY["name"],
        "n_cohort": n,
        "n_treated": n_t,
        "n_control": n_c,
        "estimand": "ATT",
        "estimand_description": "Adults with sepsis-associated encephalopathy who received IV magnesium sulfate (ATT).",
        "n_focal_unmatched": n_t - n_pairs,
        "matching": {"caliper_sd": 0.2, "scale": "logit", "ratio": 1, "n_pairs": n_pairs, "replace": False,
                     "n_unmatched_treated": n_t - n_pairs},
        "balance": {"max_abs_smd_before": float(np.abs(smd_before).max()), "max_abs_smd_after": 0.12},
        "mortality_28d": {"cohort_treated": 0.221, "cohort_control": 0.287, "matched_treated": 0.221,
                          "matched_control": 0.268, "km_matched_treated": 0.224, "km_matched_control": 0.27,
                          "horizon_days": 28},
        "km": {"logrank_p": 0.031, "sample": "matched", "logrank_p_cohort": 0.012},
        "risk_difference": {"sample": "matched", "rd": -0.047, "ci95": [-0.091, -0.003], "se": 0.022, "p": 0.036},
        "ps_model": {"method": "logistic regression", "penalty": "none", "C": None, "n_columns": 3, "converged": True,
                     "n_iter": 12, "coefficients": {"(intercept)": -0.9, "age": 0.02, "sofa": 0.11,
                                                    **{name: 0.01 for name in more}}},
        "analysis": {"seed": 42, "alpha": 0.05, "matching": {"caliper_sd": 0.2, "ratio": 1}},
        "alpha": 0.05,
        "cox_matched": {"hr": 0.79, "ci95": [0.63, 0.98], "p": 0.032, "n_events": 93},
        "cox_multivariable": {"hr": 0.81, "ci95": [0.66, 0.99], "p": 0.041},
        "iptw": {"hr": 0.83, "ci95": [0.67, 1.02], "p": 0.074, "max_weight": 8.4},
        "c_statistic": 0.712,
        "evalue": {"point": 1.85, "ci_limit": 1.16},
        "seed": 42,
        "rmst_difference_days": 1.42,
        "notes": {"software": "lifelines", "small_group_size": 6},
    }
    (folder / "estimates.json").write_text(json.dumps(estimates, indent=2), encoding="utf-8")

    bench_dir = folder.parent / "benchmarks"
    bench_dir.mkdir(exist_ok=True)
    bench = []
    for stage, secs in (("cohort_sae_fixture", 12.53), ("analysis_sae_fixture", 74.2)):
        p = bench_dir / f"{stage}.tsv"
        p.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                     f"{secs}\t0:00:{int(secs)}\t512.3\t900.1\t500.2\t505.5\t1.0\t2.0\t95.0\t{secs}\n")
        bench.append(p)
    manifest = {
        "source": "/data/mimic/mimiciv/2.2",
        "kind": "mimic",
        "mimic_version": None,
        "tables": [
            {"file": "hosp/patients.csv.gz", "size_bytes": 2_835_586, "mtime": 1_704_067_200,
             "sha256": "ab" * 32},
            {"file": "icu/icustays.csv.gz", "size_bytes": 2_942_315, "mtime": 1_704_067_200,
             "sha256": "cd" * 32},
        ],
    }
    provenance = collect_provenance(manifest, bench + [bench_dir / "report_missing.tsv"], REPO_ROOT,
                                    seed=42, now=dt.datetime(2024, 6, 1, 12, 30, tzinfo=dt.timezone.utc))
    return folder, json.loads(json.dumps(STUDY)), provenance


if __name__ == "__main__":  # preview: python tests/test_report_fixtures.py OUT_DIR
    from icu_cohort.report import write_report

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "report-preview")
    res, study, prov = make_results(out / "results" / "sae_fixture")
    write_report(res, study, prov, out / "report.html")
    print(out / "report.html")
