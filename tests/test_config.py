"""Configuration: defaults filled, a wrong key or type named, study files validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from icu_cohort.config import ConfigError, load_config, validate_config
from icu_cohort.study import Study, load_study

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_is_valid_and_defaults_are_filled():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["mimic_dir"] is None
    assert cfg["duckdb"]["threads"] >= 1 and cfg["report"]["small_count_threshold"] == 11
    assert cfg["data_dir"] == "data" and cfg["results_dir"] == "results"


def test_empty_config_gets_every_default():
    cfg = validate_config({})
    assert cfg["studies"] == ["sae_mgso4"]
    assert cfg["synthetic"] == {"patients": 4000, "seed": 20240601, "dgp": "baseline", "mimic_version": "2.2",
                                "chart_rows_per_stay": 1000}
    assert cfg["duckdb"] == {"threads": 2, "memory_limit": "2500MB", "temp_directory": "data/duckdb_tmp"}


@pytest.mark.parametrize(
    "override, message",
    [
        ({"duckdb": {"threads": "two"}}, r"duckdb\.threads: 'two' is not of type 'integer'"),
        ({"duckdb": {"thread": 2}}, r"duckdb: Additional properties are not allowed \('thread' was unexpected\)"),
        ({"mimic_dirr": "/x"}, r"\(top level\): Additional properties are not allowed \('mimic_dirr' was unexpected\)"),
        ({"studies": []}, r"studies: \[\] should be non-empty"),
        ({"duckdb": {"memory_limit": "lots"}}, r"duckdb\.memory_limit: 'lots' does not match"),
        ({"allow_missing_tables": ["chartevents"]}, r"allow_missing_tables\.0: 'chartevents' does not match"),
    ],
)
def test_wrong_key_or_type_is_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "config" / "config.yaml", override)


def test_study_file_name_must_match_and_missing_study_lists_available(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"name": "b", "title": "t", "question": "q",
                                                        "exposure": {"itemids": [222011]}}))
    with pytest.raises(ConfigError, match=r"a\.yaml: name: 'b' must equal the file name 'a'"):
        load_study("a", tmp_path)
    with pytest.raises(ConfigError, match=r"study 'zzz'.*studies available in .*: a"):
        load_study("zzz", tmp_path)


def test_unknown_study_section_is_an_error(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"name": "s", "title": "t", "question": "q", "cohortt": {}}))
    with pytest.raises(ConfigError, match=r"s\.yaml: \(top level\): Additional properties are not allowed \('cohortt'"):
        load_study("s", tmp_path)


def test_every_configured_study_validates():
    cfg = load_config(REPO / "config" / "config.yaml")
    for name in cfg["studies"]:
        study = load_study(name, REPO / cfg["study_dir"])
        assert study["name"] == name and study["question"]


def test_a_study_can_extend_another_and_state_only_what_differs(tmp_path):
    base = {"name": "base", "title": "t", "question": "q", "description": "d",
            "reference": "r", "exposure": {"itemids": [222011]}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "variant.yaml").write_text(yaml.safe_dump({"extends": "base", "name": "variant", "title": "t2"}))
    variant = load_study("variant", tmp_path)
    assert {k: variant[k] for k in base if k != "exposure"} == {
        **{k: v for k, v in base.items() if k != "exposure"}, "name": "variant", "title": "t2"}
    assert variant["exposure"]["itemids"] == [222011]      # inherited (defaults filled)
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"extends": "loop", "name": "loop"}))
    with pytest.raises(ConfigError, match=r"loop\.yaml: extends: circular \(loop -> loop\)"):
        load_study("loop", tmp_path)
    (tmp_path / "orphan.yaml").write_text(yaml.safe_dump({"extends": "nothere", "name": "orphan"}))
    with pytest.raises(ConfigError, match=r"orphan\.yaml: extends: 'nothere' but .*nothere\.yaml does not exist"):
        load_study("orphan", tmp_path)
    (tmp_path / "noname.yaml").write_text(yaml.safe_dump({"extends": "base"}))
    with pytest.raises(ConfigError, match=r"noname\.yaml: name: 'base' must equal the file name 'noname'"):
        load_study("noname", tmp_path)


def test_study_covariates_give_each_column_with_its_kind():
    base = load_study("sae_mgso4", REPO / "config" / "studies").to_dict()["definition"]
    base["covariates"].update({"continuous": ["age", "sofa"], "binary": ["male"], "categorical": ["race"]})
    study = Study(base)
    assert study.covariates == [
        {"name": "age", "type": "continuous"}, {"name": "sofa", "type": "continuous"},
        {"name": "male", "type": "binary"}, {"name": "race", "type": "categorical"}]
    assert study.covariate_columns == ["age", "sofa", "male", "race"]
    base["covariates"].update({"continuous": [], "binary": [], "categorical": []})
    assert Study(base).covariates == []


def test_a_study_records_the_files_it_extends_and_survives_a_round_trip(tmp_path):
    base = {"name": "base", "title": "t", "question": "q", "exposure": {"itemids": [1]}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "mid.yaml").write_text(yaml.safe_dump({"extends": "base", "name": "mid", "title": "m"}))
    (tmp_path / "top.yaml").write_text(yaml.safe_dump({"extends": "mid", "name": "top"}))
    top = load_study("top", tmp_path)
    assert top.files == tuple(str(tmp_path / f"{n}.yaml") for n in ("top", "mid", "base"))
    again = Study.from_dict(top.to_dict())
    assert dict(again) == dict(top) and again.files == top.files and again.criteria == top.criteria
    assert top["title"] == "m" and top["cohort"]["criteria"] == [] and top["outcome"]["horizon_days"] == 28  # defaults filled once
