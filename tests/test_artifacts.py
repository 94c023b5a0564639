"""The stage agreements (icu_cohort.artifacts): data-source names, writing all or nothing, JSON
cleaning; and the concepts stage's folder: built whole or not at all, read back by a study."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from icu_cohort import artifacts, cohort, concepts, loader
from icu_cohort.pipeline import required_tables
from icu_cohort.sqlrun import SqlError
from icu_cohort.study import Study
from test_cohort_support import SQL_DIR, Mimic, copy_sql, study


def test_source_names_tell_copies_apart_and_name_the_folder(tmp_path):
    a, b = tmp_path / "mimiciv" / "2.2", tmp_path / "copy" / "mimiciv" / "2.2"
    assert artifacts.mimic_source(a).startswith("mimiciv-2.2-")
    assert artifacts.mimic_source(a) != artifacts.mimic_source(b)
    assert artifacts.mimic_source(a) == artifacts.mimic_source(str(a) + "/")  # same folder, same name
    assert artifacts.mimic_source(tmp_path / "mimic-iv-demo-2.2").startswith("mimic-iv-demo-2.2-")
    assert artifacts.synthetic_source(4000, 20240601) == "synthetic-p4000-s20240601"
    assert artifacts.synthetic_source(4000, 1, "timevarying") == "synthetic-p4000-s1-timevarying"
    assert artifacts.synthetic_source(4000, 1, "baseline", "3.1") == "synthetic-p4000-s1-v3.1"
    assert artifacts.synthetic_source(43600, 1, chart_rows_per_stay=1000) == "synthetic-p43600-s1"
    assert artifacts.synthetic_source(43600, 1, chart_rows_per_stay=4000) == "synthetic-p43600-s1-c4000"


def test_the_default_chart_volume_has_one_value():
    from icu_cohort.config import validate_config

    assert validate_config({})["synthetic"]["chart_rows_per_stay"] == artifacts.DEFAULT_CHART_ROWS_PER_STAY
    assert artifacts.synthetic_source(10, 1, "baseline", "3.1", 0.5) == "synthetic-p10-s1-v3.1-c0.5"
    assert artifacts.study_dir("results", "src", "s") == Path("results/src/s")


def test_write_files_is_all_or_nothing_and_keeps_ordinary_permissions(tmp_path):
    out = tmp_path / "out"
    artifacts.write_files(out, {"a.txt": lambda p: p.write_text("1"), "b.txt": lambda p: p.write_text("2")})
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    mode = stat.S_IMODE((out / "a.txt").stat().st_mode)
    assert mode & 0o044 == 0o044  # readable by group and others under the usual umask

    def fails(p):
        p.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        artifacts.write_files(out, {"a.txt": lambda p: p.write_text("new"), "c.txt": fails})
    assert (out / "a.txt").read_text() == "1" and not (out / "c.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]  # no temporary folder left


def test_atomic_path_and_write_json(tmp_path):
    target = tmp_path / "x.json"
    artifacts.write_json({"a": np.float64(1.5), "b": float("nan"), "c": np.int64(3), "d": (1, np.bool_(True))},
                         target)
    assert json.loads(target.read_text()) == {"a": 1.5, "b": None, "c": 3, "d": [1, True]}
    assert stat.S_IMODE(target.stat().st_mode) & 0o044 == 0o044
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("broken")
            raise RuntimeError("stop")
    assert json.loads(target.read_text())["a"] == 1.5 and list(tmp_path.iterdir()) == [target]
    assert artifacts.json_clean({1: [math.inf, -math.inf]}) == {"1": [None, None]}


def test_atomic_dir_replaces_a_folder_only_when_complete(tmp_path):
    target = tmp_path / "concepts"
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "t.parquet").write_text("v1")
    assert (target / "t.parquet").read_text() == "v1"
    assert stat.S_IMODE(target.stat().st_mode) & 0o055 == 0o055
    with pytest.raises(ValueError):
        with artifacts.atomic_dir(target) as tmp:
            (tmp / "t.parquet").write_text("v2")
            raise ValueError("a concept failed")
    assert (target / "t.parquet").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["concepts"]


def test_estimate_keys_are_checked_by_dotted_path():
    full = {k: ({s: 1 for s in sub} if sub else 1) for k, sub in artifacts.ESTIMATES_KEYS.items()}
    assert artifacts.missing_estimate_keys(full) == []
    del full["cox_matched"]["ci95"], full["iptw"]
    assert artifacts.missing_estimate_keys(full) == ["cox_matched.ci95", "iptw"]


@pytest.fixture(scope="module")
def tiny_parquet(tmp_path_factory) -> Path:
    """Two SAE stays (one treated) as typed Parquet, the way the loader writes a data source."""
    root = tmp_path_factory.mktemp("tiny")
    m = Mimic()
    a, b = m.sae_stay(), m.sae_stay()
    m.mgso4(a, 5)
    con = m.connect()
    for key in required_tables():
        spec = loader.table(key)
        path = loader.parquet_path(root / "parquet", key)
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY {spec.qualified} TO '{path}' (FORMAT parquet)")
    return root / "parquet"


def test_concepts_folder_then_a_study_over_it_equals_the_in_memory_build(tiny_parquet, tmp_path):
    manifest = concepts.write_concepts(tiny_parquet, tmp_path / "concepts", "tiny", threads=1, memory_limit="1GB")
    assert manifest["source"] == "tiny" and [t["name"] for t in manifest["tables"]] == concepts.concept_tables()
    assert {s["sql"] for s in manifest["statements"]} == {
        f.path for f in concepts.concept_files() if not f.table}
    con = loader.connect(tiny_parquet, 1, "1GB", table_keys=cohort.required_tables())
    concepts.attach_concepts(con, tmp_path / "concepts", cohort.required_concepts())
    df, attrition = cohort.build_cohort(con, Study(study()))
    # the same study on the same rows, with every concept built in memory
    mem = Mimic()
    a, b = mem.sae_stay(), mem.sae_stay()
    mem.mgso4(a, 5)
    mcon = mem.connect()
    concepts.build_concepts(mcon, SQL_DIR)
    df2, attrition2 = cohort.build_cohort(mcon, Study(study()))
    assert df.equals(df2) and attrition.equals(attrition2)
    assert df["treated"].tolist() == [1, 0] and attrition["n_remaining"].iloc[-1] == 2


def test_a_failing_concept_names_its_file_and_leaves_no_folder(tiny_parquet, tmp_path):
    sql = copy_sql(tmp_path / "sql")
    (sql / "score" / "sofa.sql").write_text("-- broken\nSELECT no_such_column FROM mimiciv_icu.icustays")
    out = tmp_path / "data" / "concepts" / "tiny"
    with pytest.raises(SqlError, match=r"score/sofa\.sql: .*no_such_column"):
        concepts.write_concepts(tiny_parquet, out, "tiny", sql_dir=sql, threads=1, memory_limit="1GB")
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_a_study_names_a_missing_or_incomplete_concepts_folder(tiny_parquet, tmp_path):
    con = loader.connect(tiny_parquet, 1, "1GB", table_keys=cohort.required_tables())
    with pytest.raises(concepts.ConceptError, match=r"no concepts here \(manifest\.json missing\)"):
        concepts.attach_concepts(con, tmp_path / "nothing")
    out = tmp_path / "concepts"
    concepts.write_concepts(tiny_parquet, out, "tiny", threads=1, memory_limit="1GB")
    os.remove(out / "first_day_gcs.parquet")
    with pytest.raises(concepts.ConceptError, match=r"concept table\(s\) first_day_gcs not built"):
        concepts.attach_concepts(con, out, cohort.required_concepts())
