"""Where the package's data folders are: the SQL concepts, the JSON Schemas, the synthetic
generator's parameters.

In a source checkout (``pip install -e .``) they are the repository's own folders ``sql/``,
``workflow/schemas/`` and ``synthetic_data/``. A wheel (``pip install .``) ships the same
folders as package data under the names ``icu_cohort.sql``, ``icu_cohort.schemas`` and
``icu_cohort.synthetic_data`` (``pyproject.toml`` maps them), found here through
:mod:`importlib`. Every other module asks this one; nobody builds these paths.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: The repository root when running from a source checkout (``workflow/src/icu_cohort``).
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]

#: package-data name -> folder in the repository
_FOLDERS = {
    "sql": "sql",
    "schemas": "workflow/schemas",
    "synthetic_data": "synthetic_data",
}


def _folder(name: str) -> Path:
    # Installed as package data: a folder without __init__.py, i.e. a namespace package,
    # whose location importlib reports (importlib.resources.files would wrap it).
    try:
        spec = importlib.util.find_spec(f"icu_cohort.{name}")
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    path = _CHECKOUT_ROOT / _FOLDERS[name]
    if not path.is_dir():
        raise FileNotFoundError(
            f"icu_cohort's {name!r} folder is neither installed as package data "
            f"(icu_cohort.{name}) nor at {path}: a broken installation? Reinstall with pip install ."
        )
    return path


def sql_dir() -> Path:
    """The folder of SQL concept files (``sql/``) and their run-order list."""
    return _folder("sql")


def schema_dir() -> Path:
    """The folder of JSON Schemas for ``config.yaml`` and the study files."""
    return _folder("schemas")


def synthetic_data_dir() -> Path:
    """The folder holding the synthetic generator's documented parameters (``params.yaml``)."""
    return _folder("synthetic_data")
