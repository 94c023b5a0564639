"""Helpers shared by the analysis tests (no tests here): the covariate list of the default
study and a small synthetic cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd

CONTINUOUS = ["age", "weight", "heart_rate", "mbp", "resp_rate", "temperature", "spo2", "wbc",
              "hemoglobin", "platelets", "creatinine", "bun", "glucose", "sodium", "potassium",
              "calcium", "magnesium", "lactate", "bilirubin", "inr", "sofa", "gcs_min",
              "charlson", "apsiii"]
BINARY = ["male", "mechanical_ventilation", "vasopressor", "rrt", "copd", "aki",
          "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease", "malignancy"]
COVARIATES = ([{"name": c, "type": "continuous"} for c in CONTINUOUS]
              + [{"name": c, "type": "binary"} for c in BINARY]
              + [{"name": "race", "type": "categorical"}])


def small_cohort(n: int, seed: int) -> pd.DataFrame:
    """TEMPORARY stand-in until icu_cohort.synth.dgp.simulate_stays lands."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: rng.normal(size=n) for c in CONTINUOUS})
    df["age"] = rng.normal(65, 15, n).clip(18, 95)
    df["sofa"] = rng.poisson(5, n).astype(float)
    for c in BINARY:
        df[c] = rng.binomial(1, 0.3, n)
    df["race"] = rng.choice(["WHITE", "BLACK/AFRICAN AMERICAN", "ASIAN", "OTHER"], n,
                            p=[0.6, 0.2, 0.1, 0.1])
    lin = 2.0 + 0.03 * (df["age"] - 65) - 0.15 * (df["sofa"] - 5) - 0.5 * df["vasopressor"]
    df["treated"] = rng.binomial(1, 1 / (1 + np.exp(-lin)))
    base = 0.008 * np.exp(0.03 * (df["age"] - 65) + 0.15 * (df["sofa"] - 5)
                          + 0.5 * df["vasopressor"])
    u = rng.random(n)
    d1 = -np.log(u) / (base * 0.6)
    d0 = -np.log(u) / base
    d1[d1 > 90] = np.nan
    d0[d0 > 90] = np.nan
    d = np.where(df["treated"] == 1, d1, d0)
    df["death_day_if_treated"] = d1
    df["death_day_if_untreated"] = d0
    df["time_days"] = np.where(np.isnan(d) | (d > 28), 28.0, d)
    df["death_28d"] = (~np.isnan(d) & (d <= 28)).astype(int)
    df.loc[rng.random(n) < 0.2, "lactate"] = np.nan
    df.loc[rng.random(n) < 0.1, "race"] = None
    df["stay_id"] = 30_000_000 + np.arange(n)
    return df
