"""``pip install .`` works, not only ``pip install -e .``: a wheel built from this checkout,
installed into a fresh virtual environment, finds its SQL, schemas and synthetic parameters
as package data and runs the data, concepts and cohort stages on a tiny synthetic set from a
folder outside the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_every_package_folder_is_listed_in_pyproject():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    src = REPO / "workflow" / "src"
    code = {".".join(p.parent.relative_to(src).parts) for p in src.rglob("__init__.py")}
    assert code <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(code - listed)}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a clean copy of the sources: no stale build/ folder, nothing written into the checkout
    src = out / "src"
    keep = ("pyproject.toml", "README.md", "sql", "synthetic_data", "workflow")
    for name in keep:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (src).mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)], cwd=out)
    (path,) = out.glob("icu_cohort-*.whl")
    return path


def test_the_wheel_carries_the_sql_schemas_and_parameters(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in REPO.joinpath("sql").rglob("*.sql"):
        assert f"icu_cohort/sql/{sql.relative_to(REPO / 'sql').as_posix()}" in names, sql
    assert "icu_cohort/sql/concepts.txt" in names
    for schema in REPO.joinpath("workflow", "schemas").glob("*.yaml"):
        assert f"icu_cohort/schemas/{schema.name}" in names
    assert "icu_cohort/synthetic_data/params.yaml" in names


def test_an_installed_wheel_runs_the_cohort_stage(wheel, tmp_path):
    venv = tmp_path / "venv"
    # dependencies come from this interpreter's site-packages; the package itself only from the wheel
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], cwd=tmp_path)
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        import icu_cohort
        from icu_cohort import artifacts, cohort, concepts, loader, pipeline, resources
        from icu_cohort.cli import main
        from icu_cohort.study import load_study
        assert Path(icu_cohort.__file__).resolve().is_relative_to(Path({str(venv)!r}).resolve()), icu_cohort.__file__
        assert not resources.sql_dir().resolve().is_relative_to(Path({str(REPO)!r}).resolve())
        work = Path.cwd()
        assert main(["synth", "--patients", "300", "--seed", "3", "--threads", "1", "--quiet", "--out", "mimic"]) == 0
        loader.convert_tables(work / "mimic", work / "parquet", pipeline.required_tables(), threads=1, memory_limit="1GB")
        concepts.write_concepts(work / "parquet", work / "concepts", "synthetic-p300-s3", threads=1, memory_limit="1GB")
        study_dir = resources.sql_dir().parent  # no study files ship: use a minimal one
        (work / "studies").mkdir()
        (work / "studies" / "tiny.yaml").write_text(
            "name: tiny\\ntitle: t\\nquestion: q\\nexposure: {{itemids: [222011, 227523]}}\\n")
        st = load_study("tiny", work / "studies")
        pipeline.build_cohort(st, work / "parquet", work / "concepts", work / "out",
                              {{"threads": 1, "memory_limit": "1GB"}})
        att = (work / "out" / "attrition.csv").read_text().splitlines()
        print(json.dumps({{"steps": len(att) - 1, "first": att[1], "sql": str(resources.sql_dir())}}))
    """))
    proc = _run([str(python), str(script)], cwd=tmp_path)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["first"].startswith("1,all ICU stays")
    assert "site-packages" in result["sql"]
