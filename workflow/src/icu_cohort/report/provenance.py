"""Provenance of a run: data source, load-time data checks, software versions, git commit,
run time, stage timings, and the releases the study is validated on.

:func:`collect_provenance` is called once when the report job runs; it is the only place
that looks at the clock, the environment or the repository. The report renders the dict
it returns and nothing else, so the same results and the same provenance dict always give
the same HTML.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# Distribution names as installed (PyPI), shown in this order.
SOFTWARE = (
    "icu-cohort",
    "duckdb",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "lifelines",
    "psmpy",
    "snakemake",
    "matplotlib",
    "pyarrow",
)

_VERSION_RE = re.compile(r"(?:^|[/\\_-])v?(\d+\.\d+(?:\.\d+)?)(?=$|[/\\])")


def software_versions() -> dict[str, str]:
    """Installed versions of Python and the packages that shape the results."""
    out = {"python": platform.python_version()}
    for dist in SOFTWARE:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_info(repo_dir: Path) -> dict[str, Any]:
    """Commit, branch and dirty flag of ``repo_dir``; ``{"commit": None}`` outside git."""

    def run(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(repo_dir), *args],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None, "branch": None, "describe": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    branch = run("rev-parse", "--abbrev-ref", "HEAD")
    describe = run("describe", "--tags", "--always", "--dirty")
    return {
        "commit": commit,
        "dirty": bool(status) if status is not None else None,
        "branch": branch,
        "describe": describe,
    }


def mimic_version_from_path(path: str | None) -> str | None:
    """``/data/mimiciv/2.2`` -> ``"2.2"`` (PhysioNet's download folders end in the version)."""
    if not path:
        return None
    m = _VERSION_RE.search(str(path).rstrip("/\\"))
    return m.group(1) if m else None


def read_benchmarks(benchmark_files: list[Path]) -> list[dict[str, Any]]:
    """One entry per Snakemake benchmark TSV that exists: stage name, seconds, peak memory.

    The stage is named after the file (``cohort_sae.tsv`` -> ``cohort_sae``); with repeated
    benchmark rows the mean is taken. Files that do not exist are listed with ``seconds``
    None (the stage ran without a benchmark, or not in this run).
    """
    out: list[dict[str, Any]] = []
    for raw in benchmark_files:
        path = Path(raw)
        entry: dict[str, Any] = {"stage": path.stem, "file": str(path), "seconds": None, "max_rss_mb": None}
        if path.is_file():
            try:
                with path.open(newline="", encoding="utf-8") as fh:
                    rows = list(csv.DictReader(fh, delimiter="\t"))
            except (OSError, csv.Error):
                rows = []
            secs = [_float(r.get("s")) for r in rows]
            secs = [s for s in secs if s is not None]
            rss = [_float(r.get("max_rss")) for r in rows]
            rss = [r for r in rss if r is not None]
            if secs:
                entry["seconds"] = sum(secs) / len(secs)
            if rss:
                entry["max_rss_mb"] = max(rss)
        out.append(entry)
    return out


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def _load_manifest(data_manifest: dict[str, Any] | str | Path | None) -> dict[str, Any] | None:
    if data_manifest is None:
        return None
    if isinstance(data_manifest, (str, Path)):
        p = Path(data_manifest)
        if not p.is_file():
            return {"source": None, "kind": None, "mimic_version": None, "tables": [], "note": f"manifest {p.name} not found"}
        return json.loads(p.read_text(encoding="utf-8"))
    return dict(data_manifest)


def describe_data(data_manifest: dict[str, Any] | str | Path | None,
                  load_reports: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data-source part of the provenance, from the loader's manifest.

    ``load_reports``: what the loader's checks found while converting each table
    (:func:`icu_cohort.loader.parquet_manifest`: ``{"tables": {key: report}, "warnings": [...]}``).
    The result's ``load_checks`` lists per table its rows and the number of offending rows per
    check (:mod:`icu_cohort.checks`), and ``warnings`` every warning of the manifest (release
    detection) and of the load, each once, in that order: values that loaded but that a reader
    of the results must know about (e.g. ICU stays whose outtime is before intime).
    """
    man = _load_manifest(data_manifest)
    if man is None:
        return {"source": None, "kind": None, "mimic_version": None, "tables": [], "total_bytes": None,
                **_load_checks({}, load_reports)}
    tables = []
    for t in man.get("tables") or []:
        if not isinstance(t, dict):
            continue
        tables.append({
            "file": t.get("file"),
            "size_bytes": t.get("size_bytes"),
            "mtime": _iso_mtime(t.get("mtime")),
            "sha256": t.get("sha256"),
        })
    sizes = [t["size_bytes"] for t in tables if isinstance(t["size_bytes"], (int, float))]
    version = man.get("mimic_version") or (mimic_version_from_path(man.get("source")) if man.get("kind") != "synthetic" else None)
    out = {
        "source": man.get("source"),
        "kind": man.get("kind"),
        "mimic_version": version,
        "tables": tables,
        "total_bytes": int(sum(sizes)) if sizes else None,
    }
    out.update(_load_checks(man, load_reports))
    extra = {k: v for k, v in man.items() if k not in {"source", "kind", "mimic_version", "tables", "warnings"}}
    if extra:
        out["extra"] = extra
    return out


def _load_checks(man: dict[str, Any], load_reports: dict[str, Any] | None) -> dict[str, Any]:
    reports = (load_reports or {}).get("tables") or {}
    checks = [{"table": rep.get("table") or key, "rows": rep.get("rows"), "checks": dict(rep.get("checks") or {}),
               "warnings": list(rep.get("warnings") or [])} for key, rep in sorted(reports.items())]
    # sources checked without conversion (a DuckDB database) carry their checks in the manifest
    seen = {c["table"] for c in checks}
    checks += [{"table": t.get("table"), "rows": t.get("rows"), "checks": dict(t["checks"]),
                "warnings": list(t.get("warnings") or [])}
               for t in man.get("tables") or [] if isinstance(t, dict) and "checks" in t and t.get("table") not in seen]
    warnings: list[str] = []
    for w in [*(man.get("warnings") or []), *(w for c in checks for w in c["warnings"]),
              *((load_reports or {}).get("warnings") or [])]:
        if isinstance(w, str) and w not in warnings:
            warnings.append(w)
    return {"load_checks": checks, "warnings": warnings}


def _iso_mtime(v: Any) -> Any:
    """Epoch seconds -> ISO 8601 (UTC); strings are kept as given."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _dt.datetime.fromtimestamp(float(v), tz=_dt.timezone.utc).isoformat(timespec="seconds")
    return v


def collect_provenance(
    data_manifest: dict[str, Any] | None,
    benchmark_files: list[Path],
    repo_dir: Path,
    *,
    seed: int | None = None,
    now: _dt.datetime | None = None,
    load_reports: dict[str, Any] | None = None,
    validated_on: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Everything the report says about how the results were made.

    ``data_manifest``: the loader's manifest dict (a path to its JSON file is accepted too).
    ``benchmark_files``: Snakemake benchmark TSVs of the stages (missing files are listed).
    ``repo_dir``: the repository whose commit is reported.
    ``seed``: the study's random seed if the caller knows it (the report also reads
    ``estimates.json``'s ``seed``). ``now``: the run time (default: the current time, UTC).
    ``load_reports``: the loader's per-table check reports (see :func:`describe_data`).
    ``validated_on``: the releases the study is validated on
    (:func:`icu_cohort.validation.validated_on`; ``[]`` when none).
    """
    when = (now or _dt.datetime.now(tz=_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    return {
        "generated_at": when.isoformat(timespec="seconds"),
        "data": describe_data(data_manifest, load_reports),
        "validated_on": list(validated_on or []),
        "software": software_versions(),
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_implementation()}",
        "git": git_info(Path(repo_dir)),
        "seed": seed,
        "stages": read_benchmarks([Path(p) for p in benchmark_files]),
    }
