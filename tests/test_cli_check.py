"""``icu-cohort --version`` and ``icu-cohort check --mimic-dir DIR``: files, headers, release and
PhysioNet's checksums of a download, checked without converting anything."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, write_csv_gz

from icu_cohort import __version__, cli
from icu_cohort.download import read_sha256sums
from icu_cohort.mimic_tables import table
from icu_cohort.pipeline import required_tables


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


@pytest.fixture
def download(tmp_path) -> Path:
    """A tiny MIMIC-IV v2.2 folder: every needed table (header and one row of text), and its
    SHA256SUMS.txt as PhysioNet writes it (two spaces; one extra file listed)."""
    root = tmp_path / "mimiciv" / "2.2"
    for key in required_tables():
        spec = table(key)
        write_csv_gz(root / spec.relpath, list(spec.column_names), [["1"] * len(spec.column_names)])
    (root / "LICENSE.txt").write_text("licence\n")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root)}"
             for p in sorted(root.rglob("*")) if p.is_file()]
    (root / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")
    return root


def _check(capsys, *args: str) -> tuple[int, dict, str]:
    code = cli.main(["check", *args])
    out = capsys.readouterr()
    return code, json.loads(out.out.strip().splitlines()[-1]), out.err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"icu-cohort {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    proc = subprocess.run([sys.executable, "-m", "icu_cohort", "--version"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"icu-cohort {__version__}"


def test_check_passes_a_complete_download_and_writes_nothing(download, capsys):
    before = _tree(download.parents[1])
    code, summary, err = _check(capsys, "--mimic-dir", str(download))
    assert code == 0, err
    assert summary["ok"] and summary["problems"] == []
    assert summary["version"] == "2.2"  # from the folder name .../mimiciv/2.2
    assert summary["tables"] == len(required_tables())
    n_files = len(read_sha256sums(download / "SHA256SUMS.txt"))
    assert summary["checksums_checked"] == n_files and summary["checksums_mismatched"] == []
    assert "ready to use" in err
    assert _tree(download.parents[1]) == before


def test_check_names_a_file_whose_checksum_differs(download, capsys):
    path = download / "hosp" / "admissions.csv.gz"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte in the gzip trailer: the header still reads
    path.write_bytes(bytes(data))
    code, summary, err = _check(capsys, "--mimic-dir", str(download))
    assert code == 2
    assert summary["checksums_mismatched"] == ["hosp/admissions.csv.gz"]
    assert "hosp/admissions.csv.gz: SHA-256 differs from SHA256SUMS.txt" in err
    # --no-checksums: the headers alone are fine
    code, summary, _ = _check(capsys, "--mimic-dir", str(download), "--no-checksums")
    assert code == 0 and summary["checksums_checked"] is None


def test_check_names_a_missing_column_and_a_missing_file(download, capsys):
    spec = table("hosp/patients")
    cols = [c for c in spec.column_names if c != "anchor_age"]
    write_csv_gz(download / spec.relpath, cols, [["1"] * len(cols)])
    (download / table("icu/icustays").relpath).unlink()
    code, summary, err = _check(capsys, "--mimic-dir", str(download), "--no-checksums")
    assert code == 2 and not summary["ok"]
    assert "missing column(s) anchor_age" in err
    assert "missing file" in err and "icu/icustays.csv.gz" in err
    # with checksums: the changed file is named too
    code, summary, err = _check(capsys, "--mimic-dir", str(download))
    assert "hosp/patients.csv.gz" in summary["checksums_mismatched"]
    assert "icu/icustays.csv.gz is listed in SHA256SUMS.txt but absent" in err


def test_check_without_sha256sums_says_so(download, capsys):
    (download / "SHA256SUMS.txt").unlink()
    code, summary, err = _check(capsys, "--mimic-dir", str(download))
    assert code == 0 and summary["checksums_checked"] is None
    assert "no SHA256SUMS.txt" in err


def test_check_a_folder_that_is_not_there(tmp_path, capsys):
    code, summary, err = _check(capsys, "--mimic-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "is not a folder" in err


def test_check_a_malformed_sha256sums_line(download, capsys):
    (download / "SHA256SUMS.txt").write_text("not-a-hash  hosp/patients.csv.gz\n")
    code, summary, err = _check(capsys, "--mimic-dir", str(download))
    assert code == 2 and "SHA256SUMS.txt: line 1" in err


def test_check_the_open_demo_against_its_sha256sums(mimic_demo, capsys):
    """The demo ships without chartevents, which its SHA256SUMS.txt still lists."""
    sums = read_sha256sums(mimic_demo / "SHA256SUMS.txt")
    code, summary, err = _check(capsys, "--mimic-dir", str(mimic_demo))
    assert code == 2 and "icu/chartevents.csv.gz" in err
    code, summary, err = _check(capsys, "--mimic-dir", str(mimic_demo), "--allow-missing", "icu/chartevents")
    assert code == 0, err
    assert summary["version"] == "2.2"
    present = [rel for rel in sums if (mimic_demo / rel).is_file()]
    assert summary["checksums_checked"] == len(present) == len(sums) - 1
    assert summary["checksums_mismatched"] == []
    assert summary["seconds"] < 60
