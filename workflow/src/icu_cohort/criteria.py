"""The criteria vocabulary: each entry of a study's ``cohort.criteria`` as one attrition step.

A study lists its inclusion and exclusion steps in order (``cohort.criteria``, schema
``workflow/schemas/study_cohort.schema.yaml``, ``$defs/criterion_*``). Each entry names one
kind of criterion with its parameters; :func:`compile_criteria` turns the list into

* :class:`~icu_cohort.study.Criterion` steps (key, attrition description, SQL predicate over one
  row ``e`` of ``study.stay_eligibility``), the one list from which ``study.final_stay`` and
  ``attrition.csv`` are generated (:mod:`icu_cohort.cohort`);
* :class:`CriteriaParams`: the rows the study-layer SQL files read through ``${placeholders}``
  (ICD prefixes, measurement windows, treatment windows, CAM-ICU windows, the Sepsis-3 window).

What each kind means (the SQL file that computes it):

=================  ===========================================================================
``age``            ``e.age`` (mimiciv_derived.age at hospital admission) in [min, max]
``first_icu_stay`` ``e.icu_stay_rank`` (of the patient) or ``e.icu_stay_rank_in_admission`` = 1
``icu_los``        ``e.icu_los_hours`` > min_hours and <= max_hours
``first_careunit`` ``e.first_careunit`` in the listed units
``sepsis3``        a row of ``study.sepsis3`` (cohort/sepsis3.sql) with sepsis3 true
``icd_diagnosis``  ``study.admission_icd_group`` kind ``criterion`` (cohort/admission_icd_group.sql)
``icd_procedure``  ``study.admission_icd_group`` kind ``procedure``
``concept_value``  ``study.criterion_value`` (cohort/criterion_value.sql)
``treatment``      ``study.criterion_treatment`` (cohort/criterion_treatment.sql)
``cam_icu``        ``study.criterion_cam_icu`` (cohort/criterion_cam_icu.sql)
``any_of``         the OR of its criteria's conditions
=================  ===========================================================================

A step keeps a stay when its condition is true; with ``exclude: true`` it keeps the stays whose
condition is not true (unknown data, e.g. no age, never meet a condition: an inclusion drops
them, an exclusion keeps them). Step names must be unique in a study (nested ones included):
they key the parameter rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from icu_cohort.config import ConfigError

#: The kinds of criterion, in the schema's order (``$defs/criterion``).
KINDS = ("age", "first_icu_stay", "icu_los", "first_careunit", "sepsis3", "icd_diagnosis", "icd_procedure",
         "concept_value", "treatment", "cam_icu", "any_of")

#: Sepsis-3 parameters when the study has no sepsis3 step (cohort/sepsis3.sql still runs).
SEPSIS3_DEFAULTS = {"sofa_threshold": 2, "hours_before_suspicion": 48, "hours_after_suspicion": 24}

#: What each concept_value concept is, for descriptions.
CONCEPT_LABELS = {
    "gcs": "GCS", "sofa": "SOFA (24 h)", "heart_rate": "heart rate", "sbp": "systolic BP", "dbp": "diastolic BP",
    "mbp": "mean BP", "resp_rate": "respiratory rate", "temperature": "temperature (deg C)", "spo2": "SpO2",
    "lab": "lab value",
}


@dataclass(frozen=True)
class Criterion:
    """One step from all ICU stays to the cohort.

    ``predicate`` is a SQL boolean expression over one row ``e`` of
    ``study.stay_eligibility``, never NULL, true for the stays the step keeps; ``description``
    is the step's line in ``attrition.csv``.
    """

    key: str
    description: str
    predicate: str


@dataclass
class CriteriaParams:
    """Rows for the study-layer SQL (see :func:`icu_cohort.cohort.sql_params`)."""

    #: (kind, name, icd_version, prefix, max_seq_num): kind 'criterion' (diagnoses) or 'procedure'
    icd_rows: list[tuple] = field(default_factory=list)
    #: (name, concept, statistic, operator, value, start_hours, end_hours)
    value_rows: list[tuple] = field(default_factory=list)
    #: (name, itemid): the lab itemids of concept_value steps with concept 'lab'
    value_lab_rows: list[tuple] = field(default_factory=list)
    #: (name, treatment, start_hours, end_hours)
    treatment_rows: list[tuple] = field(default_factory=list)
    #: (name, member): ventilation statuses / vasopressor agents of each treatment step
    treatment_member_rows: list[tuple] = field(default_factory=list)
    #: (name, start_hours, end_hours)
    cam_icu_rows: list[tuple] = field(default_factory=list)
    sepsis3: dict = field(default_factory=lambda: dict(SEPSIS3_DEFAULTS))


def _num(x: float) -> str:
    return f"{x:g}"


def sql_string(value: str) -> str:
    """A string as a SQL literal (the step names in predicates)."""
    return "'" + str(value).replace("'", "''") + "'"


def _hours(x: float) -> str:
    return f"{_num(x)} h"


def window_text(window: Mapping[str, float]) -> str:
    """``[start, end]`` hours from ICU admission in words."""
    start, end = window["start"], window["end"]
    if start == 0:
        return f"in the first {_hours(end)} of the ICU stay"
    return f"from {_hours(start)} to {_hours(end)} of ICU admission"


def _exists(table: str, name: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} AS x WHERE x.stay_id = e.stay_id AND x.name = {sql_string(name)})"


def _icd_exists(kind: str, name: str) -> str:
    return ("EXISTS (SELECT 1 FROM study.admission_icd_group AS x WHERE x.hadm_id = e.hadm_id "
            f"AND x.kind = {sql_string(kind)} AND x.name = {sql_string(name)})")


def _range(column: str, low: float | None, high: float | None, low_strict: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{column} {'>' if low_strict else '>='} {float(low)!r}")
    if high is not None:
        parts.append(f"{column} <= {float(high)!r}")
    return " AND ".join(parts)


def _icd_lists(p: Mapping[str, Any]) -> list[tuple[int, str]]:
    out = []
    for version, key in ((9, "icd9"), (10, "icd10")):
        for prefix in p.get(key) or []:
            out.append((version, str(prefix).strip().upper().replace(".", "")))
    return out


class _Compiler:
    """Walks ``cohort.criteria`` once: conditions, descriptions and parameter rows."""

    def __init__(self, source: str):
        self.source = source
        self.params = CriteriaParams()
        self.names: dict[str, str] = {}
        self._sepsis3_from: str | None = None

    def fail(self, where: str, message: str) -> None:
        raise ConfigError(f"{self.source}: {where}: {message}")

    def entry(self, item: Mapping[str, Any], where: str) -> tuple[str, str, str, bool]:
        """``(name, condition SQL, description of the condition, exclude)`` of one entry."""
        if not isinstance(item, Mapping) or len(item) != 1:
            self.fail(where, f"expected one criterion ({', '.join(KINDS)}), got {item!r}")
        (kind, p), = item.items()
        if kind not in KINDS:
            self.fail(where, f"unknown criterion {kind!r}; known: {', '.join(KINDS)}")
        p = p or {}
        name = p.get("name") or kind
        if name in self.names:
            self.fail(f"{where}.{kind}.name", f"step name {name!r} is also used at {self.names[name]}; "
                                              "give each step its own name")
        self.names[name] = f"{where}.{kind}"
        cond, text = getattr(self, f"_{kind}")(name, p, f"{where}.{kind}")
        if kind != "any_of":  # any_of's text is '<description>: <its criteria>', always
            text = p.get("description") or text
        return name, cond, text, bool(p.get("exclude", False))

    # --- one method per kind: (condition SQL, default description) -------------------------

    def _age(self, name, p, where):
        lo, hi = p.get("min"), p.get("max")
        if lo is None and hi is None:
            self.fail(where, "give min, max or both")
        if lo is not None and hi is not None:
            text = f"age {_num(lo)}-{_num(hi)} years at hospital admission"
        elif lo is not None:
            text = f"age >= {_num(lo)} years at hospital admission"
        else:
            text = f"age <= {_num(hi)} years at hospital admission"
        return _range("e.age", lo, hi, low_strict=False), text

    def _first_icu_stay(self, name, p, where):
        of = p.get("of", "patient")
        column = "e.icu_stay_rank" if of == "patient" else "e.icu_stay_rank_in_admission"
        text = "first ICU stay of the patient" if of == "patient" else "first ICU stay of the hospital admission"
        return f"{column} = 1", text

    def _icu_los(self, name, p, where):
        lo, hi = p.get("min_hours"), p.get("max_hours")
        if lo is None and hi is None:
            self.fail(where, "give min_hours, max_hours or both")
        parts = ([f"> {_hours(lo)}"] if lo is not None else []) + ([f"<= {_hours(hi)}"] if hi is not None else [])
        return _range("e.icu_los_hours", lo, hi, low_strict=True), "ICU length of stay " + " and ".join(parts)

    def _first_careunit(self, name, p, where):
        units = [str(u) for u in p["units"]]
        return (f"e.first_careunit IN ({', '.join(sql_string(u) for u in units)})",
                "first care unit: " + ", ".join(units))

    def _sepsis3(self, name, p, where):
        window = {k: p.get(k, v) for k, v in SEPSIS3_DEFAULTS.items()}
        if self._sepsis3_from is not None and window != self.params.sepsis3:
            self.fail(where, f"a second Sepsis-3 window differs from the one at {self._sepsis3_from}; "
                             "a study has one Sepsis-3 window")
        self._sepsis3_from = where
        self.params.sepsis3 = window
        text = (f"Sepsis-3: suspected infection and SOFA >= {_num(window['sofa_threshold'])} from "
                f"{_num(window['hours_before_suspicion'])} h before to {_num(window['hours_after_suspicion'])} h "
                "after it")
        return "EXISTS (SELECT 1 FROM study.sepsis3 AS x WHERE x.stay_id = e.stay_id AND x.sepsis3)", text

    def _icd(self, kind, table_text, name, p, where):
        codes = _icd_lists(p)
        if not codes:
            self.fail(where, "list at least one prefix under icd9 or icd10")
        seq = p.get("max_seq_num")
        self.params.icd_rows += [(kind, name, v, prefix, seq) for v, prefix in codes]
        n9 = sum(v == 9 for v, _ in codes)
        text = f"{name.replace('_', ' ')} {table_text} (ICD-9: {n9}, ICD-10: {len(codes) - n9} prefixes)"
        if seq is not None:
            text += f" at position <= {seq}"
        return _icd_exists(kind, name), text

    def _icd_diagnosis(self, name, p, where):
        return self._icd("criterion", "diagnosis code on the admission", name, p, where)

    def _icd_procedure(self, name, p, where):
        return self._icd("procedure", "procedure code on the admission", name, p, where)

    def _concept_value(self, name, p, where):
        concept, w = p["concept"], p["window_hours"]
        if concept == "lab":
            if not p.get("itemids"):
                self.fail(where, "concept lab needs itemids (hosp.labevents itemids)")
            self.params.value_lab_rows += [(name, int(i)) for i in p["itemids"]]
            label = "lab value (itemids " + ", ".join(str(i) for i in p["itemids"]) + ")"
        else:
            if p.get("itemids"):
                self.fail(f"{where}.itemids", f"only concept lab takes itemids, not {concept}")
            label = CONCEPT_LABELS[concept]
        if w["end"] < w["start"]:
            self.fail(f"{where}.window_hours", "end is before start")
        self.params.value_rows.append((name, concept, p["statistic"], p["operator"], float(p["value"]),
                                       float(w["start"]), float(w["end"])))
        text = f"{p['statistic']} {label} {window_text(w)} {p['operator']} {_num(p['value'])}"
        return _exists("study.criterion_value", name), text

    def _treatment(self, name, p, where):
        treatment, w = p["treatment"], p["window_hours"]
        if w["end"] < w["start"]:
            self.fail(f"{where}.window_hours", "end is before start")
        self.params.treatment_rows.append((name, treatment, float(w["start"]), float(w["end"])))
        members = {"ventilation": p.get("ventilation_statuses") or ["InvasiveVent"],
                   "vasopressor": p.get("vasopressors") or [], "rrt": []}[treatment]
        self.params.treatment_member_rows += [(name, str(m)) for m in members]
        label = {"ventilation": "ventilation (" + ", ".join(members) + ")",
                 "vasopressor": "vasopressor (" + ", ".join(members) + ")", "rrt": "renal replacement therapy"}
        return _exists("study.criterion_treatment", name), f"{label[treatment]} {window_text(w)}"

    def _cam_icu(self, name, p, where):
        w = p["window_hours"]
        if w["end"] < w["start"]:
            self.fail(f"{where}.window_hours", "end is before start")
        self.params.cam_icu_rows.append((name, float(w["start"]), float(w["end"])))
        return _exists("study.criterion_cam_icu", name), f"a positive CAM-ICU {window_text(w)}"

    def _any_of(self, name, p, where):
        parts, texts = [], []
        for i, child in enumerate(p["criteria"]):
            _, cond, text, exclude = self.entry(child, f"{where}.criteria.{i}")
            parts.append(_apply(cond, exclude))
            texts.append(f"not {text}" if exclude else text)
        label = p.get("description") or name.replace("_", " ")
        return "(" + " OR ".join(parts) + ")", f"{label}: " + " or ".join(texts)


def _apply(condition: str, exclude: bool) -> str:
    """The step's predicate: the condition (NULL = not met), negated for an exclusion."""
    return f"(NOT COALESCE({condition}, FALSE))" if exclude else f"COALESCE({condition}, FALSE)"


def compile_criteria(entries: Sequence[Mapping[str, Any]], source: str = "cohort.criteria"
                     ) -> tuple[tuple[Criterion, ...], CriteriaParams]:
    """The ordered steps of ``cohort.criteria`` (validated) and the SQL rows they need.

    Raises :class:`ConfigError` naming the entry (``cohort.criteria.3.age``) for what the schema
    cannot say: a step name used twice, an age or length-of-stay step without bounds, an ICD
    step without codes, a lab without itemids, a window ending before it starts, two
    different Sepsis-3 windows.
    """
    comp = _Compiler(source)
    steps = []
    for i, item in enumerate(entries or []):
        name, cond, text, exclude = comp.entry(item, f"cohort.criteria.{i}")
        steps.append(Criterion(name, f"exclude {text}" if exclude else text, _apply(cond, exclude)))
    return tuple(steps), comp.params


# --------------------------------------------------------------------------------------------
# The vocabulary as documentation: README.md "Write your own study" holds this text
# --------------------------------------------------------------------------------------------

#: The generated part of README.md lies between these two lines (tests/test_cohort_criteria.py
#: checks that it equals :func:`vocabulary_markdown`).
VOCABULARY_BEGIN = "<!-- BEGIN criteria vocabulary: generated from workflow/schemas/study_cohort.schema.yaml -->"
VOCABULARY_END = "<!-- END criteria vocabulary -->"
_COMMON = ("name", "description", "exclude")


def _param_text(sub: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "$ref" in sub:
        ref = sub["$ref"].rsplit("/", 1)[-1]
        target = defs.get(ref, {})
        if ref == "icd_prefix_list":
            return "list of ICD prefixes (no dots)"
        if ref == "criterion_window":
            return "`{start: h, end: h}` from ICU intime, both ends included"
        if ref == "criterion":
            return "list of criteria"
        return " ".join(str(target.get("description", ref)).split())
    parts = []
    if "enum" in sub:
        parts.append("one of " + ", ".join(f"`{v}`" for v in sub["enum"]))
    elif sub.get("type") == "array" and isinstance(sub.get("items"), dict):
        items = sub["items"]
        if "enum" in items:
            parts.append("list of " + ", ".join(f"`{v}`" for v in items["enum"]))
        elif "$ref" in items:
            parts.append("list of criteria" if items["$ref"].endswith("/criterion") else "list")
        else:
            parts.append(f"list of {items.get('type', 'values')}")
    elif "type" in sub:
        kinds = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        parts.append(" or ".join(str(k) for k in kinds))
    if "default" in sub:
        parts.append(f"default `{json.dumps(sub['default'])}`")
    if sub.get("description"):
        parts.append(" ".join(str(sub["description"]).split()))
    return "; ".join(parts)


def vocabulary_markdown(schema: Mapping[str, Any] | None = None) -> str:
    """Every criterion kind of the study schema, its meaning and its parameters, as Markdown
    (a section per kind), between :data:`VOCABULARY_BEGIN` and :data:`VOCABULARY_END`."""
    if schema is None:
        from icu_cohort.config import study_schema

        schema = study_schema()
    defs = schema["$defs"]
    kinds = defs["criterion"]["properties"]
    lines = [VOCABULARY_BEGIN,
             "Every kind also takes `name` (the step's identifier; default the kind; unique in the study), "
             "`description` (its line in attrition.csv; default generated from the parameters) and "
             "`exclude` (default `false`; `true` removes the stays that meet the condition).", ""]
    for kind in kinds:
        spec = defs[kinds[kind]["$ref"].rsplit("/", 1)[-1]]
        lines.append(f"- **`{kind}`**: " + " ".join(str(spec.get("description", "")).split()))
        required = set(spec.get("required", []))
        for param, sub in spec.get("properties", {}).items():
            if param in _COMMON:
                continue
            need = " (required)" if param in required else ""
            lines.append(f"  - `{param}`{need}: {_param_text(sub, defs)}")
    lines.append(VOCABULARY_END)
    return "\n".join(lines) + "\n"
