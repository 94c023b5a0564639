"""The catalogue's conventions: `snakemake --lint` clean, config/README.md describing every key of
the config schema (generated from it, so the two cannot drift), the MIT LICENSE pyproject.toml
names, and the conda environment of every rule holding exactly pyproject.toml's dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from icu_cohort import config

REPO = Path(__file__).resolve().parents[1]
ENV_FILE = REPO / "workflow" / "envs" / "icu_cohort.yaml"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_config_readme_holds_the_generated_key_table():
    text = (REPO / "config" / "README.md").read_text()
    start = text.index(config.REFERENCE_BEGIN)
    end = text.index(config.REFERENCE_END) + len(config.REFERENCE_END) + 1
    assert text[start:end] == config.config_reference(), (
        "config/README.md is out of date with workflow/schemas/config.schema.yaml; regenerate it "
        "(the command is in config/README.md)"
    )


def test_every_config_key_is_described_in_the_readme():
    schema = config.load_schema("config.schema.yaml")
    readme = (REPO / "config" / "README.md").read_text()
    undocumented = []

    def walk(props, prefix=""):
        for key, sub in props.items():
            name = prefix + key
            if not str(sub.get("description") or "").strip():
                undocumented.append(name)
            if f"| `{name}` |" not in readme:
                undocumented.append(name + " (not in README)")
            walk(sub.get("properties") or {}, name + ".")

    walk(schema["properties"])
    assert undocumented == []


def test_the_reference_changes_when_the_schema_does():
    """The generator reads the schema: a new key appears, a removed one disappears."""
    schema = config.load_schema("config.schema.yaml")
    schema["properties"]["brand_new_key"] = {"type": "integer", "default": 3, "description": "x y"}
    del schema["properties"]["data_dir"]
    text = config.config_reference(schema)
    assert "| `brand_new_key` | integer | `3` | x y |" in text
    assert "`data_dir`" not in text


def test_license_is_the_mit_license_pyproject_names():
    assert _pyproject()["project"]["license"] == {"text": "MIT"}
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_conda_environment_matches_pyproject_dependencies():
    env = yaml.safe_load(ENV_FILE.read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    project = _pyproject()["project"]
    assert sorted(pip) == sorted(project["dependencies"]), (
        f"{ENV_FILE.relative_to(REPO)} pip list differs from pyproject.toml [project] dependencies"
    )
    assert f"python{project['requires-python']}" in deps


def test_every_rule_names_the_environment_and_lint_is_clean(tmp_path):
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    for path in rules:
        text = path.read_text()
        n_rules = len(re.findall(r"^\s*rule \w+:", text, flags=re.M))
        assert text.count("conda:\n") == text.count("script:\n") == n_rules or n_rules == 0, path.name
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--lint"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
