"""Helpers shared by the analysis tests (no tests here): the covariate list of the default
study and cohorts drawn from the project's data-generating process."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The default study's covariates (the spec's names) that simulate_stays produces (it does not
# simulate apsiii).
CONTINUOUS = ["age", "weight", "heart_rate", "mbp", "resp_rate", "temperature", "spo2", "wbc",
              "hemoglobin", "platelets", "creatinine", "bun", "glucose", "sodium", "potassium",
              "calcium", "magnesium", "lactate", "bilirubin", "inr", "sofa", "gcs_min",
              "charlson"]
BINARY = ["male", "mechanical_ventilation", "vasopressor", "rrt", "copd", "aki",
          "heart_failure", "diabetes", "hypertension", "ckd", "liver_disease", "malignancy"]
COVARIATES = ([{"name": c, "type": "continuous"} for c in CONTINUOUS]
              + [{"name": c, "type": "binary"} for c in BINARY]
              + [{"name": "race", "type": "categorical"}])


def small_cohort(n: int, seed: int, missing: bool = True) -> pd.DataFrame:
    """``n`` stays from the project's one DGP (:func:`icu_cohort.synth.dgp.simulate_stays`),
    with some values masked completely at random (``missing=True``: 20% of lactate, 10% of
    bilirubin, 5% of race) so the missing-value handling is exercised."""
    from icu_cohort.synth.dgp import simulate_stays

    df = simulate_stays(n, seed)
    if missing:
        rng = np.random.default_rng(seed + 1)
        df.loc[rng.random(n) < 0.20, "lactate"] = np.nan
        df.loc[rng.random(n) < 0.10, "bilirubin"] = np.nan
        df["race"] = df["race"].astype(object)
        df.loc[rng.random(n) < 0.05, "race"] = None
    return df
