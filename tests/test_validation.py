"""Every "validated on" statement the report makes is run here (icu_cohort.validation).

For each (study, target) pair of ``validation.VALIDATED`` the check that
``validation.TARGETS[target].check`` describes: on a synthetic set in a release's format, the
study's cohort is exactly the generator's eligible stays with the generator's attrition; on the
open demo, the study runs end to end on the real files with a consistent attrition. So the
report's statement and the test suite cannot drift apart: a study or target added to the table
is run here, and a target without a check here fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from icu_cohort import cohort, concepts, loader, pipeline, validation
from icu_cohort.study import load_study

REPO = Path(__file__).resolve().parents[1]
STUDY_DIR = REPO / "config" / "studies"
PAIRS = [(study, target) for study, targets in sorted(validation.VALIDATED.items()) for target in targets]
PATIENTS, SEED = 1200, 13


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One connection with the concepts built per target, made on first use."""
    root = tmp_path_factory.mktemp("validation")
    made: dict[str, tuple] = {}

    def get(target: validation.Target):
        if target.name in made:
            return made[target.name]
        keys = pipeline.required_tables()
        if target.name.startswith("synthetic-"):
            from icu_cohort.synth import generate

            mimic = root / "mimiciv" / f"{target.release}-synthetic"
            generate(mimic, PATIENTS, SEED, progress=None, threads=2, mimic_version=target.release)
            allow: tuple[str, ...] = ()
        elif target.name == "mimic-iv-demo-2.2":
            from conftest import demo_dir

            mimic = demo_dir()
            if not (mimic / "hosp" / "patients.csv.gz").is_file():
                pytest.skip(f"the open MIMIC-IV demo is not at {mimic} (set ICU_COHORT_DEMO_DIR to its folder)")
            allow = ("icu/chartevents",)  # the demo has none
        else:
            raise AssertionError(f"validation target {target.name} has no check in tests/test_validation.py")
        parquet = root / f"parquet-{target.name}"
        loader.convert_tables(mimic, parquet, keys, allow, threads=2, memory_limit="2GB")
        con = loader.connect(parquet, 2, "2GB", table_keys=keys)
        concepts.build_concepts(con)
        made[target.name] = (mimic, con)
        return made[target.name]

    return get


def test_every_target_is_known_and_every_claim_names_a_known_study():
    studies = {p.stem for p in STUDY_DIR.glob("*.yaml")}
    assert set(validation.VALIDATED) <= studies
    assert {t for _, t in PAIRS} <= set(validation.TARGETS)
    assert len(PAIRS) >= 8  # the default study and its 48 h variant, on the demo and three formats


@pytest.mark.parametrize("study_name, target_name", PAIRS)
def test_each_study_holds_on_each_target_it_is_validated_on(data, study_name, target_name):
    target = validation.TARGETS[target_name]
    mimic, con = data(target)
    assert loader.detect_version(mimic)["version"] == target.release
    df, attrition = cohort.build_cohort(con, load_study(study_name, STUDY_DIR))
    remaining = attrition["n_remaining"].tolist()
    if target_name.startswith("synthetic-"):
        truth = json.loads((mimic / "ground_truth.json").read_text())
        gt = pd.read_csv(mimic / "ground_truth_stays.csv")
        assert remaining == [s["n_remaining"] for s in truth["attrition"]]
        assert sorted(df["stay_id"]) == sorted(gt.loc[gt["eligible"] == 1, "stay_id"]) and len(df) > 100
    else:
        n_stays = con.execute("SELECT count(*) FROM mimiciv_icu.icustays").fetchone()[0]
        assert remaining[0] == n_stays == 140
        assert all(a >= b for a, b in zip(remaining, remaining[1:]))
        assert attrition["n_excluded"].tolist()[1:] == [a - b for a, b in zip(remaining, remaining[1:])]
        assert len(df) == remaining[-1]
