"""MIMIC-IV v2.2, v3.0 and v3.1 as PhysioNet ships them: headers, case, version detection."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from icu_cohort import loader, mimic_tables
from icu_cohort.mimic_tables import RELEASES, SUPPORTED_VERSIONS, TABLES, columns_for, table
from conftest import write_csv_gz

# One row per table, by v2.2 column name (other columns empty); keys consistent across tables.
ROW = {
    "subject_id": 10000032, "hadm_id": 22595853, "stay_id": 33258284, "gender": "F", "anchor_age": 52,
    "anchor_year": 2180, "dod": "2180-09-09", "admittime": "2180-05-06 22:23:00",
    "dischtime": "2180-05-07 17:15:00", "admission_type": "URGENT", "intime": "2180-05-06 23:00:00",
    "outtime": "2180-05-07 16:00:00", "los": 0.7, "seq_num": 1, "icd_code": "5723", "icd_version": 9,
    "labevent_id": 1, "specimen_id": 2, "itemid": 220045, "charttime": "2180-05-07 01:00:00",
    "value": 80, "valuenum": 80.0, "microevent_id": 3, "micro_specimen_id": 4, "chartdate": "2180-05-07",
    "spec_itemid": 70012, "test_seq": 1, "pharmacy_id": 5, "drug_type": "MAIN", "drug": "Magnesium Sulfate",
    "starttime": "2180-05-07 02:00:00", "endtime": "2180-05-07 03:00:00", "orderid": 6,
    "ORIGINALAMOUNT": 1.5, "originalamount": 1.5, "caregiver_id": 7, "storetime": "2180-05-07 01:05:00",
}


def _groups(version: str) -> str:
    return RELEASES[version]["anchor_year_groups"][-1]


def write_release(root, version: str, header_case=str) -> None:
    """Every catalogue table in ``version``'s header (names passed through ``header_case``)."""
    for key in TABLES:
        names = columns_for(key, version)
        row = [ROW.get(c, ROW.get(c.lower())) for c in names]
        if key == "hosp/patients":
            row[names.index("anchor_year_group")] = _groups(version)
        write_csv_gz(root / table(key).relpath, [header_case(c) for c in names], [row])


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_each_release_loads_and_is_detected(tmp_path, version):
    root = tmp_path / "physionet.org" / "files" / "mimiciv" / version
    write_release(root, version)
    rows = loader.convert_tables(root, tmp_path / "pq", TABLES)
    assert all(n == 1 for n in rows.values())
    detected = loader.detect_version(root)
    assert detected["version"] == version and not detected["conflicts"]
    assert {"source": f"folder name {root}", "says": version, "kind": "exact"} in detected["evidence"]
    con = loader.connect(tmp_path / "pq")
    assert con.execute("SELECT anchor_year_group FROM mimiciv_hosp.patients").fetchone()[0] == _groups(version)
    manifest = loader.data_manifest(root, loader.check_sources(root, TABLES), "mimic", parquet_dir=tmp_path / "pq")
    assert manifest["mimic_version"] == version
    assert manifest["mimic_version_detection"]["evidence"] == detected["evidence"]
    json.dumps(manifest)  # the manifest stays JSON


def test_v30_carries_the_lab_itemid_note_and_v31_does_not(tmp_path):
    for version in ("3.0", "3.1"):
        root = tmp_path / version
        write_release(root, version)
        manifest = loader.data_manifest(root, loader.check_sources(root, TABLES), "mimic", checksums=False)
        notes = " ".join(manifest["warnings"])
        assert ("itemid" in notes) == (version == "3.0"), version


@pytest.mark.parametrize("case", [str.upper, str.lower, str.title])
def test_header_names_differing_only_in_case_load_under_the_catalogue_names(tmp_path, case):
    root = tmp_path / "mimic"
    write_release(root, "3.1", header_case=case)
    loader.check_sources(root, TABLES)
    loader.convert_tables(root, tmp_path / "pq", TABLES)
    got = pq.read_table(loader.parquet_path(tmp_path / "pq", "icu/procedureevents"))
    assert got.column_names == table("icu/procedureevents").column_names  # ORIGINALAMOUNT as in v2.2
    assert got.column("ORIGINALAMOUNT").to_pylist() == [1.5]
    assert pq.read_table(loader.parquet_path(tmp_path / "pq", "icu/icustays")).column("stay_id").to_pylist() == [33258284]


def test_two_header_names_equal_but_for_case_are_an_error(tmp_path):
    spec = table("icu/procedureevents")
    names = spec.column_names + ["originalamount"]
    root = tmp_path / "mimic"
    write_csv_gz(root / spec.relpath, names, [[ROW.get(c, "") for c in names]])
    with pytest.raises(loader.MimicInputError, match=r"procedureevents\.csv\.gz: header has column 'ORIGINALAMOUNT' more than once"):
        loader.check_sources(root, ["icu/procedureevents"])


def test_pre_22_header_is_named_as_an_older_release(tmp_path):
    spec = table("icu/chartevents")
    names = [c for c in spec.column_names if c != "caregiver_id"]
    root = tmp_path / "mimic"
    write_csv_gz(root / spec.relpath, names, [[ROW.get(c) for c in names]])
    with pytest.raises(loader.MimicInputError, match=r"chartevents\.csv\.gz: missing column\(s\) caregiver_id .*"
                                                     r"added in MIMIC-IV v2\.2.*v2\.0/v2\.1.*2\.2, 3\.0, 3\.1"):
        loader.check_sources(root, ["icu/chartevents"])


def test_columns_for_applies_a_release_rename_add_and_drop_and_the_loader_reads_it(tmp_path, monkeypatch):
    """The per-release machinery, with a made-up release 9.9 (no real release needs it today)."""
    monkeypatch.setitem(mimic_tables.VERSION_CHANGES, "9.9", {
        "icu/icustays": {"rename": {"los": "length_of_stay"}, "add": [("stay_id", "ward_id")], "drop": ["last_careunit"]}})
    names = columns_for("icu/icustays", "9.9")
    assert names == ["subject_id", "hadm_id", "stay_id", "ward_id", "first_careunit", "intime", "outtime", "length_of_stay"]
    spec = table("icu/icustays")
    write_csv_gz(tmp_path / "m" / spec.relpath, names,
                 [[1, 2, 3, 9, "MICU", "2150-01-01 00:00:00", "2150-01-03 00:00:00", 2.0]])
    with pytest.raises(loader.MimicInputError, match="missing column\\(s\\) last_careunit"):
        loader.check_sources(tmp_path / "m", ["icu/icustays"])  # dropped columns are still required
    names2 = names[:5] + ["last_careunit"] + names[5:]
    write_csv_gz(tmp_path / "n" / spec.relpath, names2,
                 [[1, 2, 3, 9, "MICU", "SICU", "2150-01-01 00:00:00", "2150-01-03 00:00:00", 2.0]])
    loader.convert_tables(tmp_path / "n", tmp_path / "pq", ["icu/icustays"])
    got = pq.read_table(loader.parquet_path(tmp_path / "pq", "icu/icustays"))
    assert got.column_names == spec.column_names and got.column("los").to_pylist() == [2.0]
    with pytest.raises(KeyError, match="not supported"):
        columns_for("icu/icustays", "1.0")


def test_columns_for_every_supported_release_is_the_catalogue_header():
    # The published schemas of 2.2, 3.0 and 3.1 list the same columns (mimic_tables.VERSION_CHANGES).
    for version in SUPPORTED_VERSIONS:
        for key, spec in TABLES.items():
            assert columns_for(key, version) == spec.column_names, (version, key)


def test_detect_version_from_a_doi_in_physionets_readme(tmp_path):
    root = tmp_path / "download"
    write_release(root, "3.1")
    (root / "README.txt").write_text(f"MIMIC-IV\nhttps://doi.org/{RELEASES['3.1']['doi']}\n")
    d = loader.detect_version(root)
    assert d["version"] == "3.1"
    assert [e["kind"] for e in d["evidence"]] == ["exact", "family"]


def test_detect_version_from_data_alone_says_3x_or_hints_22(tmp_path):
    write_release(tmp_path / "a", "3.0")
    assert loader.detect_version(tmp_path / "a")["version"] == "3.x"
    write_release(tmp_path / "b", "2.2")
    d = loader.detect_version(tmp_path / "b")
    assert d["version"] == "2.2" and d["evidence"][0]["kind"] == "hint"


def test_detect_version_reports_a_folder_name_the_data_contradict(tmp_path):
    root = tmp_path / "mimiciv" / "2.2"
    write_release(root, "3.1")  # 2020 - 2022 patients in a folder named 2.2
    d = loader.detect_version(root)
    assert d["version"] == "3.x"
    assert len(d["conflicts"]) == 1 and "2020 - 2022" in d["conflicts"][0]
    manifest = loader.data_manifest(root, loader.check_sources(root, TABLES), "mimic", checksums=False)
    assert any(w.startswith("MIMIC-IV version:") for w in manifest["warnings"])


def test_detect_version_without_any_evidence_is_none(tmp_path):
    (tmp_path / "empty").mkdir()
    assert loader.detect_version(tmp_path / "empty") == {"version": None, "evidence": [], "conflicts": [], "notes": []}


def test_demo_is_detected_as_22_from_name_doi_checksums_and_data(mimic_demo):
    d = loader.detect_version(mimic_demo)
    assert d["version"] == "2.2" and not d["conflicts"]
    assert [e["kind"] for e in d["evidence"]] == ["exact", "exact", "hint", "hint"]
