"""Which MIMIC-IV releases each study has been validated on, and what that validation checks.

The one owner of the statement: the study report shows :func:`validated_on` for its study
(provenance section), and ``tests/test_validation.py`` runs every (study, target) pair of
:data:`VALIDATED` with the check its :data:`TARGETS` entry describes, so the report can only say
what the test suite shows. A study not listed (a user's own study, or one no test runs end to
end against a known answer) is reported as not validated by the test suite.

"Validated" means the check below passed on that data, for the code of this version; it says
nothing about a real MIMIC-IV download of that release beyond its format and year groups (the
synthetic sets are written in each release's format: headers, ``anchor_year_group`` values,
DOI README; see :func:`icu_cohort.synth.generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from icu_cohort.mimic_tables import RELEASES


@dataclass(frozen=True)
class Target:
    """One kind of data a study can be validated on."""

    name: str
    release: str  # the MIMIC-IV release (a key of icu_cohort.mimic_tables.RELEASES)
    data: str  # what the data are
    check: str  # what the validation checks


def _synthetic(release: str) -> Target:
    return Target(f"synthetic-{release}", release,
                  f"synthetic MIMIC-IV in the v{release} format (icu-cohort synth --mimic-version {release})",
                  "the cohort is exactly the generator's eligible stays and every attrition step equals the "
                  "generator's count (ground truth by construction)")


#: The targets, by name.
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("mimic-iv-demo-2.2", "2.2",
           "the open MIMIC-IV demo v2.2 (100 patients, PhysioNet doi 10.13026/07hj-2a80; it has no chartevents)",
           "the study runs end to end on the real files and its attrition is consistent (counts only "
           "decrease, each step's exclusions add up, the cohort has the final count); no known answer"),
    *(_synthetic(r) for r in ("2.2", "3.0", "3.1")),
)}

#: Per study (its ``name``), the targets it is validated on.
VALIDATED: dict[str, tuple[str, ...]] = {
    "sae_mgso4": ("mimic-iv-demo-2.2", "synthetic-2.2", "synthetic-3.0", "synthetic-3.1"),
    "sae_mgso4_48h": ("mimic-iv-demo-2.2", "synthetic-2.2", "synthetic-3.0", "synthetic-3.1"),
}


def validated_on(study_name: str) -> list[dict[str, str]]:
    """The targets ``study_name`` is validated on, as the report shows them (``[]``: none)."""
    out = []
    for name in VALIDATED.get(study_name, ()):
        t = TARGETS[name]
        out.append({"target": t.name, "release": t.release, "data": t.data, "check": t.check})
    return out


def _check() -> None:
    for study, names in VALIDATED.items():
        for name in names:
            if name not in TARGETS:
                raise ValueError(f"validation.VALIDATED[{study!r}] names unknown target {name!r}")
    for t in TARGETS.values():
        if t.release not in RELEASES:
            raise ValueError(f"validation target {t.name}: release {t.release!r} is not in mimic_tables.RELEASES")


_check()
