"""One study, loaded and validated once: the :class:`Study` object every stage receives.

A study file (``config/studies/<name>.yaml``) is read, its ``extends:`` chain resolved (the
base study's keys, then this file's merged over them), validated against the study schema
with every default filled in, and frozen into a :class:`Study`. Stages never validate again:
a Snakemake job receives the resolved definition (:meth:`Study.to_dict`) and rebuilds the
object with :meth:`Study.from_dict`.

The study owns its ordered inclusion and exclusion criteria (:attr:`Study.criteria`): the
eligibility SQL of the cohort stage (``study.final_stay``) and ``attrition.csv`` are both
generated from that one list (:mod:`icu_cohort.cohort`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from icu_cohort.config import ConfigError, deep_merge, read_yaml, study_schema, validate
from icu_cohort.trial import Design, design_of

#: The kinds of covariate, in the order the analysis lists them.
COVARIATE_KINDS = ("continuous", "binary", "categorical")


@dataclass(frozen=True)
class Criterion:
    """One step from all ICU stays to the cohort.

    ``predicate`` is a SQL boolean expression over one row ``e`` of
    ``study.stay_eligibility`` that is true for the stays the step keeps (NULL counts as not
    kept); ``description`` is the step's line in ``attrition.csv``.
    """

    key: str
    description: str
    predicate: str


def _num(x: float) -> str:
    return f"{x:g}"


def _sql_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def criteria_of(definition: Mapping[str, Any]) -> tuple[Criterion, ...]:
    """The ordered criteria of a study's ``cohort`` section (after validation).

    Inclusion: age, first ICU stay (when required), ICU length of stay, Sepsis-3 with the
    study's window, encephalopathy; then each exclusion step in the file's order.
    """
    c = definition["cohort"]
    sep, enc = c["sepsis3"], c["encephalopathy"]
    steps = [Criterion("adult", f"age >= {_num(c['min_age'])} years at hospital admission", "e.adult")]
    if c["first_icu_stay_only"]:
        steps.append(Criterion("first_icu_stay", "first ICU stay of the patient", "e.first_icu_stay"))
    steps += [
        Criterion("icu_los", f"ICU length of stay > {_num(c['min_icu_los_hours'])} h", "e.icu_los_ok"),
        Criterion(
            "sepsis3",
            f"Sepsis-3: suspected infection and SOFA >= {_num(sep['sofa_threshold'])} from "
            f"{_num(sep['hours_before_suspicion'])} h before to {_num(sep['hours_after_suspicion'])} h after it",
            "e.sepsis3",
        ),
        Criterion(
            "encephalopathy",
            f"encephalopathy: lowest first-day GCS < {_num(enc['gcs_below'])} or a delirium code"
            + (f" or a positive CAM-ICU in the first {_num(enc['delirium_cam_icu_hours'])} h"
               if enc.get("delirium_cam_icu_hours") is not None else ""),
            "e.encephalopathy",
        ),
    ]
    for step in c["exclusions"]:
        steps.append(
            Criterion(
                f"exclude_{step['name']}",
                f"exclude {step.get('description') or step['name']}",
                "NOT EXISTS (SELECT 1 FROM study.stay_exclusion AS x "
                f"WHERE x.stay_id = e.stay_id AND x.name = {_sql_string(step['name'])})",
            )
        )
    return tuple(steps)


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
        self.criteria: tuple[Criterion, ...] = criteria_of(self._definition)
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
    definition = validate(raw, study_schema(), str(path))
    if definition.get("name") != name:
        raise ConfigError(f"{path}: name: {definition.get('name')!r} must equal the file name {name!r}")
    return Study(definition, files)


def study_from_definition(definition: Mapping[str, Any], source: str = "study") -> Study:
    """A :class:`Study` from an in-memory definition (validated, defaults filled)."""
    return Study(validate(dict(definition), study_schema(), source))


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
