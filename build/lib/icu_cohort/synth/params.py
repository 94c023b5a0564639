"""Parameters of the synthetic data-generating process: one YAML file, merged overrides.

The defaults live in ``synthetic_data/params.yaml`` at the repository root (the one place the
DGP is parameterised; its formulas are in ``synthetic_data/README.md``). Callers change them
with a nested mapping of the same shape (``--params FILE``), or with three shortcuts::

    treated_share        -> treatment.target_treated_share
    log_hr               -> outcome.log_hr
    chart_rows_per_stay  -> chartevents.rows_per_stay

An unknown key is an error that names the key, so a typo never silently keeps a default.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from icu_cohort.resources import synthetic_data_dir

#: ``synthetic_data/params.yaml`` beside the package's repository (editable install).
DEFAULT_PARAMS_PATH = synthetic_data_dir() / "params.yaml"

#: Shortcut names accepted by :func:`load_params` and the command line.
ALIASES: dict[str, tuple[str, ...]] = {
    "treated_share": ("treatment", "target_treated_share"),
    "log_hr": ("outcome", "log_hr"),
    "chart_rows_per_stay": ("chartevents", "rows_per_stay"),
}

#: Mappings whose keys are data (category names): an override replaces them whole.
OPEN_MAPS: frozenset[tuple[str, ...]] = frozenset({
    ("covariates", "race"),
    ("covariates", "vasopressor_agents"),
    ("medication", "mgso4_dose_grams"),
})


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"synthetic-data parameter file not found: {path}") from None
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], update: Mapping[str, Any], path: tuple[str, ...]) -> None:
    """Deep-merge ``update`` into ``base`` in place; unknown keys raise ``KeyError``."""
    for key, value in update.items():
        here = path + (str(key),)
        if key not in base:
            known = ", ".join(sorted(map(str, base)))
            raise KeyError(f"unknown synthetic-data parameter {'.'.join(here)!r} (known here: {known})")
        if here in OPEN_MAPS:
            if not isinstance(value, Mapping) or not value:
                raise ValueError(f"parameter {'.'.join(here)!r} must be a non-empty mapping")
            base[key] = dict(value)
        elif isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ValueError(f"parameter {'.'.join(here)!r} must be a mapping, got {value!r}")
            _merge(base[key], value, here)
        else:
            if isinstance(value, Mapping):
                raise ValueError(f"parameter {'.'.join(here)!r} is a single value, got a mapping")
            base[key] = value


def load_params(params_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                **shortcuts: Any) -> dict[str, Any]:
    """The merged parameter tree: defaults, then ``params_file``, then ``overrides``, then shortcuts.

    ``overrides`` is a nested mapping shaped like the YAML file; ``shortcuts`` are the names in
    :data:`ALIASES` (``None`` values are ignored, so CLI options can be passed through as-is).
    Returns a fresh ``dict`` (callers may keep it; it is never shared).
    """
    params = copy.deepcopy(_default_tree())
    if params_file is not None:
        _merge(params, _read_yaml(Path(params_file)), ())
    if overrides:
        _merge(params, overrides, ())
    for name, value in shortcuts.items():
        if name not in ALIASES:
            raise KeyError(f"unknown synthetic-data option {name!r} (known: {', '.join(sorted(ALIASES))})")
        if value is None:
            continue
        section, key = ALIASES[name]
        params[section][key] = value
    _validate(params)
    return params


def split_overrides(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``**kwargs`` of :func:`generate` / ``simulate_stays`` into (nested, shortcuts).

    Top-level section names (``outcome={...}``) are nested overrides; alias names are shortcuts.
    """
    nested: dict[str, Any] = {}
    short: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in ALIASES:
            short[key] = value
        else:
            nested[key] = value
    return nested, short


def params_key(params: Mapping[str, Any]) -> str:
    """A canonical string of the parameter tree (cache key for calibrations)."""
    return json.dumps(params, sort_keys=True, default=str)


_DEFAULT_CACHE: dict[str, Any] | None = None


def _default_tree() -> dict[str, Any]:
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = _read_yaml(DEFAULT_PARAMS_PATH)
    return _DEFAULT_CACHE


def _validate(p: Mapping[str, Any]) -> None:
    """Range checks that would otherwise surface as obscure numerical failures."""
    share = float(p["treatment"]["target_treated_share"])
    if not 0.0 < share < 1.0:
        raise ValueError(f"treatment.target_treated_share must be in (0, 1), got {share}")
    risk = float(p["outcome"]["target_untreated_risk_28d"])
    if not 0.0 < risk < 1.0:
        raise ValueError(f"outcome.target_untreated_risk_28d must be in (0, 1), got {risk}")
    if float(p["outcome"]["weibull_shape"]) <= 0:
        raise ValueError("outcome.weibull_shape must be > 0")
    if not 0.0 <= float(p["outcome"]["delay_days"]) < 1.0 + 27.0:
        raise ValueError("outcome.delay_days must be in [0, 28)")
    if float(p["chartevents"]["rows_per_stay"]) < 0:
        raise ValueError("chartevents.rows_per_stay must be >= 0")
    if float(p["population"]["icu_stays_per_patient"]) <= 0:
        raise ValueError("population.icu_stays_per_patient must be > 0")
    plan = p["plan"]
    for key in ("short_stay", "no_antibiotic", "antibiotic_normal_physiology", "no_encephalopathy",
                "delirium_only", "delirium_with_low_gcs"):
        if not 0.0 <= float(plan[key]) <= 1.0:
            raise ValueError(f"plan.{key} must be a probability, got {plan[key]}")
    if float(plan["no_antibiotic"]) + float(plan["antibiotic_normal_physiology"]) > 1.0:
        raise ValueError("plan.no_antibiotic + plan.antibiotic_normal_physiology must be <= 1")
    lo = float(p["medication"]["mgso4_first_dose_hours"]["min"])
    hi = float(p["medication"]["mgso4_first_dose_hours"]["max"])
    if not 0.5 <= lo <= hi <= 20.0:
        raise ValueError("medication.mgso4_first_dose_hours must satisfy 0.5 <= min <= max <= 20")
    late = p["late_dose"]
    if not 0.0 <= float(late["share"]) <= 1.0:
        raise ValueError(f"late_dose.share must be a probability, got {late['share']}")
    if not hi <= float(late["min_hours"]) <= float(late["max_hours"]):
        raise ValueError("late_dose must satisfy medication.mgso4_first_dose_hours.max <= min_hours <= max_hours")
