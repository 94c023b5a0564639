"""Parameters of the synthetic data-generating process: one YAML file, merged overrides.

The defaults live in ``synthetic_data/params.yaml`` at the repository root (the one place the
DGP is parameterised; its formulas are in ``synthetic_data/README.md``). Callers change them
with a nested mapping of the same shape (``--params FILE``), or with three shortcuts::

    treated_share        -> treatment.target_treated_share
    log_hr               -> outcome.log_hr
    chart_rows_per_stay  -> chartevents.rows_per_stay

An unknown key is an error that names the key, so a typo never silently keeps a default.

Two data-generating processes (``dgp``): ``"baseline"`` (the default; treatment decided once at
ICU admission) reads ``params.yaml`` only; ``"timevarying"`` (treatment that starts over time,
changes later measurements, missing labs; :mod:`icu_cohort.synth.timevarying`) merges
``synthetic_data/params_timevarying.yaml`` over it: that file adds its own sections and changes
a few defaults, and the baseline-only keys :data:`TIMEVARYING_UNUSED` are removed from the tree
(setting them is an error in that mode).
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
#: ``synthetic_data/params_timevarying.yaml``: the sections and defaults of ``dgp="timevarying"``.
TIMEVARYING_PARAMS_PATH = DEFAULT_PARAMS_PATH.with_name("params_timevarying.yaml")

#: The data-generating processes :func:`icu_cohort.synth.generate` knows (first = default).
DGPS: tuple[str, ...] = ("baseline", "timevarying")

#: Keys of params.yaml that the time-varying process does not use (removed from its tree).
TIMEVARYING_UNUSED: tuple[tuple[str, ...], ...] = (
    ("late_dose",),
    ("medication", "mgso4_first_dose_hours"),
)


class UnknownParameterError(KeyError):
    """A parameter (or shortcut) that the parameter tree of the chosen DGP does not have."""

    def __str__(self) -> str:          # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class InvalidParameterError(ValueError):
    """A parameter value outside its range (e.g. a share above 1, a negative grace period)."""

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
            raise UnknownParameterError(f"unknown synthetic-data parameter {'.'.join(here)!r} "
                                        f"(known here: {known})")
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


def check_dgp(dgp: str) -> str:
    """``dgp`` if it names a known data-generating process, else :class:`InvalidParameterError`."""
    if dgp not in DGPS:
        raise InvalidParameterError(f"unknown synthetic-data dgp {dgp!r} (known: {', '.join(DGPS)})")
    return dgp


def _timevarying_tree() -> dict[str, Any]:
    """params.yaml with params_timevarying.yaml merged over it (new sections added, known keys
    of existing sections changed) and the keys of :data:`TIMEVARYING_UNUSED` removed."""
    tree = copy.deepcopy(_default_tree())
    extra = _read_yaml(TIMEVARYING_PARAMS_PATH)
    for section, value in extra.items():
        if section in tree:
            _merge(tree[section], value, (section,))
        else:
            tree[section] = copy.deepcopy(value)
    for path in TIMEVARYING_UNUSED:
        node = tree
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    return tree


def load_params(params_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                dgp: str = "baseline", **shortcuts: Any) -> dict[str, Any]:
    """The merged parameter tree: defaults, then ``params_file``, then ``overrides``, then shortcuts.

    ``dgp`` chooses the defaults (see module docstring); a key the chosen tree lacks is an
    :class:`UnknownParameterError` (a ``KeyError``), an impossible value an
    :class:`InvalidParameterError` (a ``ValueError``); both name the key.

    ``overrides`` is a nested mapping shaped like the YAML file; ``shortcuts`` are the names in
    :data:`ALIASES` (``None`` values are ignored, so CLI options can be passed through as-is).
    Returns a fresh ``dict`` (callers may keep it; it is never shared).
    """
    check_dgp(dgp)
    params = copy.deepcopy(_default_tree()) if dgp == "baseline" else _timevarying_tree()
    if params_file is not None:
        _merge(params, _read_yaml(Path(params_file)), ())
    if overrides:
        _merge(params, overrides, ())
    for name, value in shortcuts.items():
        if name not in ALIASES:
            raise UnknownParameterError(f"unknown synthetic-data option {name!r} "
                                        f"(known: {', '.join(sorted(ALIASES))})")
        if value is None:
            continue
        section, key = ALIASES[name]
        params[section][key] = value
    _validate(params)
    if dgp == "timevarying":
        _validate_timevarying(params)
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


def _get(p: Mapping[str, Any], path: str) -> Any:
    node: Any = p
    for key in path.split("."):
        node = node[key]
    return node


def _number(p: Mapping[str, Any], path: str) -> float:
    value = _get(p, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(f"parameter {path!r} must be a number, got {value!r}")
    if value != value:        # NaN
        raise InvalidParameterError(f"parameter {path!r} must be a number, got NaN")
    return float(value)


def _share(p: Mapping[str, Any], path: str, *, open_low: bool = False, open_high: bool = False) -> float:
    """A probability / share in [0, 1] (optionally open at either end), else a named error."""
    v = _number(p, path)
    if v < 0.0 or v > 1.0 or (open_low and v == 0.0) or (open_high and v == 1.0):
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise InvalidParameterError(f"parameter {path!r} is a share and must be in {lo}0, 1{hi}, got {v}")
    return v


def _weights(p: Mapping[str, Any], path: str) -> None:
    """Relative frequencies: each >= 0, at least one > 0."""
    values = _get(p, path)
    for key, v in values.items():
        _number(p, f"{path}.{key}")
        if float(v) < 0:
            raise InvalidParameterError(f"parameter {path}.{key} is a relative frequency and must be >= 0, got {v}")
    if not sum(float(v) for v in values.values()) > 0:
        raise InvalidParameterError(f"parameter {path!r}: the relative frequencies must not all be 0")


#: Probabilities of params.yaml checked to lie in [0, 1] (both DGPs).
_SHARES = ("population.second_stay_same_admission", "population.repeat_stay_survival",
           "population.child_share_of_icu_patients", "population.nonicu_inhospital_death",
           "population.nonicu_postdischarge_death", "population.icd9_share", "timeline.ed_share",
           "covariates.male", "covariates.vasopressin_addon", "medication.magnesium_oxide_po",
           "medication.milk_of_magnesia_po")


def _validate(p: Mapping[str, Any]) -> None:
    """Range checks that would otherwise surface as obscure numerical failures (named errors)."""
    for path in _SHARES:
        _share(p, path)
    for path in ("covariates.race", "covariates.vasopressor_agents", "medication.mgso4_dose_grams"):
        _weights(p, path)
    for name in p["covariates"]["comorbidities"]:
        _share(p, f"covariates.comorbidities.{name}.prevalence", open_low=True, open_high=True)
    for name in p["plan"]["exclusion"]:
        _share(p, f"plan.exclusion.{name}")
    if _number(p, "population.nonicu_inhospital_death") + _number(p, "population.nonicu_postdischarge_death") > 1:
        raise InvalidParameterError("population.nonicu_inhospital_death + nonicu_postdischarge_death must be <= 1")
    share = _number(p, "treatment.target_treated_share")
    if not 0.0 < share < 1.0:
        raise InvalidParameterError(f"treatment.target_treated_share must be in (0, 1), got {share}")
    risk = _number(p, "outcome.target_untreated_risk_28d")
    if not 0.0 < risk < 1.0:
        raise InvalidParameterError(f"outcome.target_untreated_risk_28d must be in (0, 1), got {risk}")
    if _number(p, "outcome.weibull_shape") <= 0:
        raise InvalidParameterError("outcome.weibull_shape must be > 0")
    if not 0.0 <= _number(p, "outcome.delay_days") < 1.0 + 27.0:
        raise InvalidParameterError("outcome.delay_days must be in [0, 28)")
    if _number(p, "chartevents.rows_per_stay") < 0:
        raise InvalidParameterError("chartevents.rows_per_stay must be >= 0")
    if _number(p, "population.icu_stays_per_patient") <= 0:
        raise InvalidParameterError("population.icu_stays_per_patient must be > 0")
    plan = p["plan"]
    for key in ("short_stay", "no_antibiotic", "antibiotic_normal_physiology", "no_encephalopathy",
                "delirium_only", "delirium_with_low_gcs", "stroke", "stroke_without_infarction", "thrombectomy"):
        if not 0.0 <= _number(p, f"plan.{key}") <= 1.0:
            raise InvalidParameterError(f"plan.{key} must be a probability, got {plan[key]}")
    if float(plan["stroke"]) + float(plan["stroke_without_infarction"]) > 1.0:
        raise InvalidParameterError("plan.stroke + plan.stroke_without_infarction must be <= 1")
    if float(plan["no_antibiotic"]) + float(plan["antibiotic_normal_physiology"]) > 1.0:
        raise InvalidParameterError("plan.no_antibiotic + plan.antibiotic_normal_physiology must be <= 1")
    if "mgso4_first_dose_hours" in p["medication"]:           # baseline DGP only
        lo = _number(p, "medication.mgso4_first_dose_hours.min")
        hi = _number(p, "medication.mgso4_first_dose_hours.max")
        if not 0.5 <= lo <= hi <= 20.0:
            raise InvalidParameterError("medication.mgso4_first_dose_hours must satisfy 0.5 <= min <= max <= 20")
    if "late_dose" in p:                                       # baseline DGP only
        late = p["late_dose"]
        if not 0.0 <= _number(p, "late_dose.share") <= 1.0:
            raise InvalidParameterError(f"late_dose.share must be a probability, got {late['share']}")
        if not hi <= float(late["min_hours"]) <= float(late["max_hours"]):
            raise InvalidParameterError(
                "late_dose must satisfy medication.mgso4_first_dose_hours.max <= min_hours <= max_hours")
    if _number(p, "medication.mgso4_extra_doses_mean") < 0:
        raise InvalidParameterError("medication.mgso4_extra_doses_mean must be >= 0")


#: Missing-data targets of the time-varying DGP (``missingness.share``), in nesting order:
#: a nested item is missing whenever its panel is (lactate with the blood gas, albumin with the
#: liver panel), so its share must be at least the panel's.
MISSING_ITEMS = ("blood_gas", "lactate", "liver_panel", "albumin", "coagulation")
_MISSING_NESTED = {"lactate": "blood_gas", "albumin": "liver_panel"}


def _validate_timevarying(p: Mapping[str, Any]) -> None:
    """Range checks of the sections of params_timevarying.yaml (named errors)."""
    if _number(p, "outcome.delay_days") < 1.0:
        raise InvalidParameterError(
            "outcome.delay_days must be >= 1 in the timevarying DGP (nobody dies in the first 24 h, so "
            "the study's ICU LOS > 24 h criterion never depends on treatment)")
    sp = "severity_process"
    if not 0.0 <= _number(p, f"{sp}.persistence") <= 1.0:
        raise InvalidParameterError(f"{sp}.persistence must be in [0, 1], got {_get(p, sp + '.persistence')}")
    if _number(p, f"{sp}.hourly_sd") < 0:
        raise InvalidParameterError(f"{sp}.hourly_sd must be >= 0")
    horizon = _number(p, f"{sp}.horizon_hours")
    if not (horizon == int(horizon) and 48 <= horizon <= 28 * 24):
        raise InvalidParameterError(f"{sp}.horizon_hours must be a whole number of hours in [48, 672], got {horizon}")
    for key in ("death_log_hr_per_unit", "treatment_log_hr_per_unit"):
        _number(p, f"{sp}.{key}")
    tp = "treatment_process"
    earliest = _number(p, f"{tp}.earliest_hours")
    if not (earliest == int(earliest) and 0 <= earliest < 24):
        raise InvalidParameterError(f"{tp}.earliest_hours must be a whole number of hours in [0, 24), got {earliest}")
    if _number(p, f"{tp}.time_shape") <= 0:
        raise InvalidParameterError(f"{tp}.time_shape must be > 0")
    r = "response.magnesium"
    lo, hi = _number(p, f"{r}.rise_min"), _number(p, f"{r}.rise_max")
    if not 0.0 <= lo <= hi:
        raise InvalidParameterError(f"{r} must satisfy 0 <= rise_min <= rise_max, got {lo}, {hi}")
    if _number(p, f"{r}.half_life_hours") <= 0:
        raise InvalidParameterError(f"{r}.half_life_hours must be > 0")
    clo, chi = _number(p, f"{r}.check_hours.min"), _number(p, f"{r}.check_hours.max")
    if not 0.0 <= clo <= chi:
        raise InvalidParameterError(f"{r}.check_hours must satisfy 0 <= min <= max")
    if _number(p, "response.map.drop_mmhg") < 0 or _number(p, "response.map.hours") < 0:
        raise InvalidParameterError("response.map.drop_mmhg and response.map.hours must be >= 0")
    m = p["missingness"]
    if set(m["share"]) != set(MISSING_ITEMS):
        raise UnknownParameterError(f"missingness.share must list exactly {', '.join(MISSING_ITEMS)}, "
                                    f"got {', '.join(map(str, m['share']))}")
    for item in MISSING_ITEMS:
        _share(p, f"missingness.share.{item}", open_high=True)
        _number(p, f"missingness.mnar_log_or.{item}")
    for item, panel in _MISSING_NESTED.items():
        if float(m["share"][item]) < float(m["share"][panel]):
            raise InvalidParameterError(
                f"missingness.share.{item} ({m['share'][item]}) must be >= missingness.share.{panel} "
                f"({m['share'][panel]}): {item} is missing whenever the {panel.replace('_', ' ')} is")
    for key in m["mar"]:
        _number(p, f"missingness.mar.{key}")
    horizon_h = int(horizon)
    for key in ("grace_hours", "landmark_hours"):
        values = _get(p, f"strategies.{key}")
        if not isinstance(values, list) or not values:
            raise InvalidParameterError(f"strategies.{key} must be a non-empty list of hours, got {values!r}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
                raise InvalidParameterError(f"strategies.{key} must hold whole numbers of hours, got {v!r}")
            if v < 0:
                raise InvalidParameterError(f"strategies.{key}: a grace period / landmark cannot be negative, got {v}")
            if not earliest < v < horizon_h:
                raise InvalidParameterError(
                    f"strategies.{key}: {v} h must be in ({int(earliest)}, {horizon_h}) "
                    f"(treatment_process.earliest_hours, severity_process.horizon_hours)")
        if len(set(values)) != len(values):
            raise InvalidParameterError(f"strategies.{key} has repeated values: {values}")
