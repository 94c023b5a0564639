"""The whole DAG as users run it: ``snakemake --cores 2`` on the default synthetic set, and on
the open demo; bad configuration and a missing file stop it at start-up, naming the problem."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import os
import shutil

import pandas as pd
import pytest
import yaml
from test_report import resource_references

from icu_cohort import artifacts, concepts
from icu_cohort.study import load_study

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


#: The default configuration runs here at a smaller size than the README's command (the same
#: studies, stages, files and checks; 8,000 instead of 50,000 synthetic patients), so that the
#: suite stays within its time budget; the README reports the full-size run's time.
TEST_PATIENTS = 8000


def _args(workdir: Path) -> list[str]:
    """The command-line options of every run on the shared work folder: its size and study copies."""
    size = workdir / "test_size.yaml"
    if not size.exists():
        size.write_text(yaml.safe_dump({"synthetic": {"patients": TEST_PATIENTS}}))
    return ["--configfile", str(size), "--config", f"study_dir={workdir / 'studies'}"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One run of the default configuration (the README's command, at TEST_PATIENTS), shared by
    the tests below.

    The study files are copies in the work folder (``study_dir``), so that a test may touch
    one without touching the repository."""
    workdir = tmp_path_factory.mktemp("default_run")
    shutil.copytree(REPO / "config" / "studies", workdir / "studies")
    proc = snakemake(workdir, *_args(workdir), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def _default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _source() -> str:
    syn = _default_config()["synthetic"]
    return artifacts.synthetic_source(TEST_PATIENTS, syn["seed"], chart_rows_per_stay=syn.get("chart_rows_per_stay"))


def _results(workdir: Path, study: str) -> Path:
    return artifacts.study_dir(workdir / "results", _source(), study)


def test_default_run_writes_every_promised_file(default_run):
    for study in _default_config()["studies"]:
        folder = _results(default_run, study)
        for artifact in artifacts.STUDY_OUTPUTS:
            assert (folder / artifact.name).is_file(), f"{study}/{artifact.name}"
        estimates = json.loads((folder / "estimates.json").read_text())
        assert artifacts.missing_estimate_keys(estimates) == []
        cohort = pd.read_parquet(folder / "cohort.parquet")
        attrition = pd.read_csv(folder / "attrition.csv")
        assert list(attrition.columns) == ["step", "description", "n_remaining", "n_excluded"]
        # every excluded stay counted: each step removes exactly what it says, ending at the cohort
        assert (attrition["n_remaining"].shift(1).fillna(attrition["n_remaining"].iloc[0]
                                                         + attrition["n_excluded"].iloc[0])
                - attrition["n_excluded"] == attrition["n_remaining"]).all()
        assert attrition["n_remaining"].iloc[-1] == len(cohort) == estimates["n_cohort"]
        assert estimates["n_treated"] == int(cohort["treated"].sum())
        for column in ["subject_id", "hadm_id", "stay_id", "treated", "time_days", "death_28d"]:
            assert column in cohort.columns
        # capped at the study's horizon (28 days; ais_mgso4: 90)
        horizon = load_study(study, REPO / "config" / "studies")["outcome"]["horizon_days"]
        assert cohort["time_days"].between(0, horizon).all() and (cohort["time_days"] == horizon).any()


def test_default_run_finds_exactly_the_generators_eligible_stays(default_run):
    """The SQL cohort is the set of stays the generator made eligible, with its exposure."""
    truth_dir = default_run / "data" / "synthetic" / _source()
    truth = pd.read_csv(truth_dir / "ground_truth_stays.csv")
    icustays = pd.read_csv(truth_dir / "icu" / "icustays.csv.gz")
    assert set(truth["stay_id"]) == set(icustays["stay_id"])
    eligible = truth[truth["eligible"] == 1]
    for study, window_end in (("sae_mgso4", None), ("sae_mgso4_48h", 48)):
        cohort = pd.read_parquet(_results(default_run, study) / "cohort.parquet")
        assert set(cohort["stay_id"]) == set(eligible["stay_id"])
        both = cohort.merge(eligible, on="stay_id", suffixes=("", "_truth"))
        # exposure as each study defines it: any IV dose in the stay, or a first dose within 48 h
        # (the planted, baseline treatment; later first doses are the immortal-time decoys)
        first = both["iv_mgso4_first_dose_hours"]
        exposed = first.notna() if window_end is None else first < window_end
        assert (both["treated"] == exposed.astype(int)).all(), study
        if window_end == 48:
            assert (both["treated"] == both["treated_truth"]).all()
        # the observed outcome is the potential outcome under the baseline decision
        day = both["death_day_if_treated"].where(both["treated_truth"] == 1, both["death_day_if_untreated"])
        died = day.notna() & (day <= 28)
        assert (both["death_28d"] == died.astype(int)).mean() > 0.99  # dod-only deaths round to midday


def test_report_is_self_contained_and_has_no_identifiers(default_run):
    html = (_results(default_run, "sae_mgso4") / "report.html").read_text()
    cohort = pd.read_parquet(_results(default_run, "sae_mgso4") / "cohort.parquet")
    for column in ("subject_id", "hadm_id", "stay_id"):
        for value in cohort[column].astype(str).head(50):
            assert value not in html
    assert resource_references(html) == []  # nothing the page would fetch (src, href, url(), @import)


def test_concepts_are_built_once_and_every_study_reuses_them(default_run):
    folder = artifacts.concepts_dir(default_run / "data", _source())
    manifest = concepts.read_manifest(folder)
    assert [t["name"] for t in manifest["tables"]] == concepts.concept_tables()
    for t in manifest["tables"]:
        assert (folder / t["file"]).is_file() and t["rows"] >= 0 and len(t["sql_sha256"]) == 64
    assert len(list((default_run / "logs" / "benchmarks" / _source()).glob("concepts*.tsv"))) == 1
    concept_sql = {f.path for f in concepts.concept_files() if f.table}
    for study in _default_config()["studies"]:
        log = (default_run / "logs" / _source() / "cohort" / f"{study}.log").read_text()
        assert "cohort/stay_eligibility.sql" in log
        assert not [p for p in concept_sql if p in log], f"{study} ran concept SQL again"
    assert not list(folder.parent.glob(".*tmp*")), "no half-built concept folder left"


def test_second_run_has_nothing_to_do(default_run):
    proc = snakemake(default_run, "-n", *_args(default_run))
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_a_parent_study_rebuilds_the_study_that_extends_it(default_run):
    parent = default_run / "studies" / "sae_mgso4.yaml"
    text, stat = parent.read_text(), parent.stat()
    parent.write_text(text + "# an edit of the parent study\n")
    try:
        proc = snakemake(default_run, "-n", *_args(default_run))
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-2000:]
        # the variant's own cohort job is planned (not only the parent's)
        assert re.search(r"rule cohort:\n(?:    .*\n)*?    wildcards: study=sae_mgso4_48h\n", out), out[-3000:]
        assert "rule concepts" not in out  # the concepts do not depend on any study
    finally:
        parent.write_text(text)
        os.utime(parent, (stat.st_atime, stat.st_mtime))


def test_snakemake_report_builds(default_run):
    proc = snakemake(default_run, "--report", "results/report.html", *_args(default_run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (default_run / "results" / "report.html").stat().st_size > 10_000


def test_wrong_config_key_stops_at_start_up_naming_it(tmp_path):
    proc = snakemake(tmp_path, "-n", "--config", "duckdb_threads=2")
    assert proc.returncode != 0
    assert "Additional properties are not allowed ('duckdb_threads' was unexpected)" in proc.stdout + proc.stderr
    assert not (tmp_path / "data").exists()


def test_missing_mimic_file_stops_before_any_job(tmp_path):
    fake = tmp_path / "mimiciv" / "2.2"
    (fake / "hosp").mkdir(parents=True)
    proc = snakemake(tmp_path, "--config", f"mimic_dir={fake}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "hosp/patients.csv.gz" in out and "icu/chartevents.csv.gz" in out
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_demo_runs_through_the_cohort_stage(mimic_demo, tmp_path):
    """The open demo (no chartevents): loads, runs the SQL, writes a valid attrition table."""
    target = f"results/{artifacts.mimic_source(mimic_demo)}/sae_mgso4/attrition.csv"
    proc = snakemake(tmp_path, target, "--config", f"mimic_dir={mimic_demo}",
                     'allow_missing_tables=["icu/chartevents"]')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    attrition = pd.read_csv(tmp_path / target)
    assert attrition["n_remaining"].iloc[0] == 140 and attrition["n_excluded"].iloc[0] == 0
    assert (attrition["n_remaining"].diff().dropna() == -attrition["n_excluded"].iloc[1:]).all()
    assert artifacts.mimic_source(mimic_demo) in proc.stderr  # the run names its data source
    manifest = json.loads((artifacts.parquet_dir(tmp_path / "data", artifacts.mimic_source(mimic_demo))
                           / "manifest.json").read_text())
    assert manifest["mimic_version"] == "2.2"
    assert any(t.get("missing") and t["file"] == "icu/chartevents.csv.gz" for t in manifest["tables"])


def test_the_time_varying_synthetic_set_is_its_own_data_source(tmp_path):
    config = tmp_path / "tv.yaml"
    config.write_text(yaml.safe_dump({"synthetic": {"patients": 400, "seed": 3, "dgp": "timevarying"}}))
    proc = snakemake(tmp_path, "-n", "--configfile", str(config))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    chart_rows = _default_config()["synthetic"].get("chart_rows_per_stay")  # kept from config.yaml
    source = artifacts.synthetic_source(400, 3, "timevarying", chart_rows_per_stay=chart_rows)
    assert f"data/synthetic/{source}/ground_truth.json" in out and f"results/{source}/sae_mgso4/report.html" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"synthetic": {"dgp": "hourly"}}))
    proc = snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert proc.returncode != 0 and "synthetic.dgp: 'hourly' is not one of" in proc.stdout + proc.stderr
