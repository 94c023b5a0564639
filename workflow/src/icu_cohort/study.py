"""One study, loaded and validated once: the :class:`Study` object every stage receives.

A study file (``config/studies/<name>.yaml``) is read, its ``extends:`` chain resolved (the
base study's keys, then this file's merged over them), validated against the study schema
with every default filled in, and frozen into a :class:`Study`. Stages never validate again:
a Snakemake job receives the resolved definition (:meth:`Study.to_dict`) and rebuilds the
object with :meth:`Study.from_dict`.

The study owns its ordered inclusion and exclusion criteria (:attr:`Study.criteria`, compiled
from ``cohort.criteria`` by :mod:`icu_cohort.criteria`): the eligibility SQL of the cohort stage
(``study.final_stay``) and ``attrition.csv`` are both generated from that one list
(:mod:`icu_cohort.cohort`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

from icu_cohort.config import ConfigError, deep_merge, read_yaml, study_schema, validate
from icu_cohort.criteria import CriteriaParams, Criterion, compile_criteria
from icu_cohort.trial import Design, design_of

__all__ = ["Study", "Criterion", "criteria_of", "load_study", "study_from_definition", "COVARIATE_KINDS"]

#: The kinds of covariate, in the order the analysis lists them.
COVARIATE_KINDS = ("continuous", "binary", "categorical")


def criteria_of(definition: Mapping[str, Any]) -> tuple[Criterion, ...]:
    """The ordered criteria of a study's ``cohort.criteria`` (after validation): one step per
    entry, in the file's order (:func:`icu_cohort.criteria.compile_criteria`)."""
    return compile_criteria(definition["cohort"]["criteria"], f"study {definition.get('name')!r}")[0]


#: The exposure keys each source needs and the ones it does not read.
EXPOSURE_KEYS = {
    "inputevents": (("itemids",), ("drug_patterns", "routes", "excluded_routes")),
    "procedureevents": (("itemids",), ("drug_patterns", "routes", "excluded_routes")),
    "prescriptions": (("drug_patterns", "routes"), ("itemids", "excluded_routes")),
    "emar": (("drug_patterns",), ("itemids",)),
}


def check_exposure(definition: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key when the exposure section lacks what its
    ``source`` needs (itemids; drug_patterns and routes) or sets what it does not read."""
    e = definition.get("exposure") or {}
    source = e.get("source", "inputevents")
    needs, unused = EXPOSURE_KEYS[source]
    where = f"study {definition.get('name')!r}: exposure"
    for key in needs:
        if not e.get(key):
            raise ConfigError(f"{where}.{key}: required for source {source}")
    for key in unused:
        if e.get(key):
            readers = [s for s, (n, u) in EXPOSURE_KEYS.items() if key not in u]
            raise ConfigError(f"{where}.{key}: not read for source {source} (only for "
                              + ", ".join(readers) + ")")
    if source == "emar" and "routes" not in e and "excluded_routes" not in e:
        # deliberate: an emar exposure without a route rule would count oral forms as well
        raise ConfigError(f"{where}: source emar needs a route rule: excluded_routes (e.g. [PO, NG] for an IV "
                          "exposure: MIMIC-IV records no route for IV administrations), routes, or "
                          "excluded_routes: [] for every route")


def check_icd_covariates(definition: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when a name is both a comorbidity and a procedure group
    (``covariates.comorbidities`` / ``covariates.procedures``: each is one column)."""
    v = definition.get("covariates") or {}
    both = sorted(set(v.get("comorbidities") or {}) & set(v.get("procedures") or {}))
    if both:
        raise ConfigError(f"study {definition.get('name')!r}: covariates.procedures: {', '.join(both)} "
                          "also named in covariates.comorbidities; each ICD-group covariate is one column")


def _default_horizon() -> float:
    return study_schema()["properties"]["outcome"]["properties"]["horizon_days"]["default"]


def analysis_follows_outcome(raw: Any) -> Any:
    """The raw study definition with ``analysis.horizon_days`` set to ``outcome.horizon_days``
    when the file does not set it: the analysis reads the outcome (``death_28d``,
    ``time_days``, censored at the outcome's horizon) at that horizon, so a 90-day study needs
    its horizon written once, under ``outcome``."""
    if not isinstance(raw, dict):
        return raw
    outcome, analysis = raw.get("outcome"), raw.get("analysis")
    if not isinstance(outcome, Mapping) or "horizon_days" not in outcome:
        return raw
    if analysis is None:
        analysis = {}
    if not isinstance(analysis, Mapping) or "horizon_days" in analysis:
        return raw
    return {**raw, "analysis": {**analysis, "horizon_days": outcome["horizon_days"]}}


def check_horizon(definition: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``analysis.horizon_days`` differs from
    ``outcome.horizon_days`` (the analysis would read Kaplan-Meier at another horizon than the
    one its events and censoring were computed for)."""
    analysis = definition.get("analysis") or {}
    outcome = definition.get("outcome") or {}
    if "horizon_days" in analysis and "horizon_days" in outcome and \
            float(analysis["horizon_days"]) != float(outcome["horizon_days"]):
        raise ConfigError(
            f"study {definition.get('name')!r}: analysis.horizon_days ({analysis['horizon_days']:g}) differs from "
            f"outcome.horizon_days ({outcome['horizon_days']:g}); the analysis reads the outcome at its own "
            "horizon: set outcome.horizon_days only")


class Study(Mapping):
    """A validated study: its sections as a read-only mapping, plus what stages derive.

    ``study["cohort"]`` etc. are the validated sections (defaults filled in); ``files`` are
    the study file and the files it extends (its Snakemake inputs); ``criteria`` the ordered
    cohort steps; ``covariates`` the analysis covariates as ``[{"name", "type"}]``.
    """

    def __init__(self, definition: Mapping[str, Any], files: tuple[str, ...] = ()):
        self._definition = copy.deepcopy(dict(definition))
        self.name: str = self._definition["name"]
        self.files: tuple[str, ...] = tuple(str(f) for f in files)
        check_exposure(self._definition)
        check_icd_covariates(self._definition)
        check_horizon(self._definition)
        steps, params = compile_criteria(self._definition["cohort"]["criteria"], f"study {self.name!r}")
        self.criteria: tuple[Criterion, ...] = steps
        #: the SQL rows the criteria need (ICD prefixes, windows), read by icu_cohort.cohort
        self.criteria_params: CriteriaParams = params
        self._design = design_of(self._definition)   # checks baseline windows against time zero

    # Mapping interface: the validated sections
    def __getitem__(self, key: str) -> Any:
        return self._definition[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._definition)

    def __len__(self) -> int:
        return len(self._definition)

    def __repr__(self) -> str:
        return f"Study({self.name!r})"

    @property
    def covariates(self) -> list[dict]:
        """The covariates as ``[{"name": column, "type": kind}]``, kinds in :data:`COVARIATE_KINDS` order."""
        spec = self._definition.get("covariates") or {}
        return [{"name": n, "type": kind} for kind in COVARIATE_KINDS for n in spec.get(kind) or []]

    @property
    def covariate_columns(self) -> list[str]:
        """The covariate column names, each once, in :attr:`covariates` order."""
        out: list[str] = []
        for cov in self.covariates:
            if cov["name"] not in out:
                out.append(cov["name"])
        return out

    @property
    def design(self) -> "Design | None":
        """The target-trial design (:class:`icu_cohort.trial.Design`), None without ``design:``."""
        return self._design

    def to_dict(self) -> dict:
        """The resolved, validated definition and its files (for a Snakemake job's params)."""
        return {"definition": copy.deepcopy(self._definition), "files": list(self.files)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Study":
        """The study :meth:`to_dict` described; it was validated when first loaded."""
        return cls(data["definition"], tuple(data.get("files") or ()))

    def replace(self, **sections: Any) -> "Study":
        """A copy with some sections replaced, validated again (for tests and variants)."""
        merged = {**copy.deepcopy(self._definition), **sections}
        if "outcome" in sections and "analysis" not in sections:   # the analysis follows the new outcome
            horizon = (sections["outcome"] or {}).get("horizon_days", _default_horizon())
            merged["analysis"] = {**(merged.get("analysis") or {}), "horizon_days": horizon}
        return Study(validate(merged, study_schema(), f"study {self.name!r}"), self.files)


def load_study(name: str, study_dir: Path) -> Study:
    """Read ``<study_dir>/<name>.yaml``, resolve ``extends:``, validate, fill defaults.

    The file's ``name`` must equal ``name``. Raises :class:`ConfigError` naming the file
    and the key on any problem.
    """
    path = Path(study_dir) / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in Path(study_dir).glob("*.yaml"))
        raise ConfigError(
            f"study {name!r}: {path} not found (studies available in {study_dir}: "
            f"{', '.join(available) or 'none'})"
        )
    raw, files = _resolve_extends(read_yaml(path), path, Path(study_dir), (name,))
    definition = validate(analysis_follows_outcome(raw), study_schema(), str(path))
    if definition.get("name") != name:
        raise ConfigError(f"{path}: name: {definition.get('name')!r} must equal the file name {name!r}")
    return Study(definition, files)


def study_from_definition(definition: Mapping[str, Any], source: str = "study") -> Study:
    """A :class:`Study` from an in-memory definition (validated, defaults filled)."""
    return Study(validate(analysis_follows_outcome(dict(definition)), study_schema(), source))


def _resolve_extends(raw: Any, path: Path, study_dir: Path, chain: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """A study file's content with ``extends: <base study>`` applied, and the files read.

    The base study's file (in the same folder, itself possibly extending another) is read
    and this file's keys are merged over it: mappings merge key by key, anything else
    (lists, numbers, strings) replaces the base's value. So a variant states only what
    differs. The files are returned this file first, then its bases.
    """
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw, (str(path),)
    raw = dict(raw)
    base_name = raw.pop("extends")
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: extends: expected the name of another study, got {base_name!r}")
    if base_name in chain:
        raise ConfigError(f"{path}: extends: circular ({' -> '.join(chain + (base_name,))})")
    base_path = study_dir / f"{base_name}.yaml"
    if not base_path.is_file():
        raise ConfigError(f"{path}: extends: {base_name!r} but {base_path} does not exist")
    base, base_files = _resolve_extends(read_yaml(base_path), base_path, study_dir, chain + (base_name,))
    if not isinstance(base, dict):
        raise ConfigError(f"{base_path}: expected a mapping of keys to values at the top level")
    return deep_merge(base, raw), (str(path),) + base_files
