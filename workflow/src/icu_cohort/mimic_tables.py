"""The MIMIC-IV tables icu-cohort reads: file names, column order, column types, releases.

The one owner of four things (the loader, the data checks and the synthetic generator import
them from here):

* the loader's up-front check (every required file present, header holding every column);
* the loader's Parquet conversion (the types PhysioNet documents, as in mimic-code's
  ``mimic-iv/buildmimic/postgres/create.sql``: ids as integers, times as timestamps);
* each table's primary key and whether a header-only copy (no rows) is acceptable
  (:attr:`TableSpec.primary_key`, :attr:`TableSpec.may_be_empty`);
* the MIMIC-IV releases the loader accepts (:data:`SUPPORTED_VERSIONS`), their headers
  (:func:`columns_for`) and what tells them apart (:data:`RELEASES`).

Column lists are the MIMIC-IV v2.2 headers as PhysioNet distributes them (checked against
the open demo, ``mimic-iv-demo-2.2``, whose files are byte-identical to PhysioNet's). For the
other releases see :data:`VERSION_CHANGES`.

:data:`TABLES` are the tables every run reads; :data:`OPTIONAL_TABLES` (hosp.emar,
hosp.emar_detail) are read only by the studies whose SQL reads them (an exposure from hosp.emar),
so a run without such a study never requires, checks or converts them; :func:`table` knows both.

Tables that may be empty (header, no rows) -- everything else must have rows:

* ``icu/outputevents`` -- read only for urine output, one input of the SOFA renal score
  (``sql/measurement/urine_output.sql``); an extract without it still scores creatinine;
* ``icu/procedureevents`` -- read only for renal replacement therapy
  (``sql/treatment/rrt.sql``), which few stays have; a small extract may have none.

``patients``, ``admissions`` and ``icustays`` define the population; ``chartevents`` (GCS,
vital signs, SOFA), ``labevents``, ``inputevents`` (the exposure, vasopressors),
``prescriptions`` and ``microbiologyevents`` (both needed for suspicion of infection, hence
Sepsis-3) and ``diagnoses_icd`` (every admission is coded) cannot be empty in a real download:
an empty copy means a truncated export, so the loader stops. (A table that is absent altogether
can still be allowed with the ``allow_missing_tables`` setting, e.g. the demo's chartevents.)
"""

from __future__ import annotations

from dataclasses import dataclass

INT = "INTEGER"
BIG = "BIGINT"
TS = "TIMESTAMP"
DATE = "DATE"
DBL = "DOUBLE"
TXT = "VARCHAR"
SMALL = "SMALLINT"


@dataclass(frozen=True)
class TableSpec:
    """One MIMIC-IV table: its module (``hosp`` or ``icu``), name and typed columns.

    ``columns`` are the v2.2 header's names in PhysioNet's order (the names the Parquet files
    and the SQL use, whatever the release); ``primary_key`` is the column that identifies a
    row (checked unique at load time) or ``None``; ``may_be_empty`` says whether a header-only
    file is accepted (see the module docstring for which and why).
    """

    module: str
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: str | None = None
    may_be_empty: bool = False

    @property
    def relpath(self) -> str:
        """Path of the PhysioNet file below the MIMIC-IV root, e.g. ``hosp/patients.csv.gz``."""
        return f"{self.module}/{self.name}.csv.gz"

    @property
    def schema(self) -> str:
        """SQL schema name as mimic-code's DuckDB/PostgreSQL builds name it."""
        return f"mimiciv_{self.module}"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)


def _t(module: str, name: str, cols: str, primary_key: str | None = None,
       may_be_empty: bool = False) -> TableSpec:
    parsed = []
    for item in cols.split(","):
        col, typ = item.strip().split(":")
        parsed.append((col, typ))
    return TableSpec(module, name, tuple(parsed), primary_key, may_be_empty)


_SPECS = [
    _t("hosp", "patients",
       f"subject_id:{INT}, gender:{TXT}, anchor_age:{SMALL}, anchor_year:{SMALL}, "
       f"anchor_year_group:{TXT}, dod:{DATE}", primary_key="subject_id"),
    _t("hosp", "admissions",
       f"subject_id:{INT}, hadm_id:{INT}, admittime:{TS}, dischtime:{TS}, deathtime:{TS}, "
       f"admission_type:{TXT}, admit_provider_id:{TXT}, admission_location:{TXT}, "
       f"discharge_location:{TXT}, insurance:{TXT}, language:{TXT}, marital_status:{TXT}, "
       f"race:{TXT}, edregtime:{TS}, edouttime:{TS}, hospital_expire_flag:{SMALL}",
       primary_key="hadm_id"),
    _t("hosp", "diagnoses_icd",
       f"subject_id:{INT}, hadm_id:{INT}, seq_num:{INT}, icd_code:{TXT}, icd_version:{SMALL}"),
    _t("hosp", "procedures_icd",
       f"subject_id:{INT}, hadm_id:{INT}, seq_num:{INT}, chartdate:{DATE}, icd_code:{TXT}, icd_version:{SMALL}"),
    _t("hosp", "labevents",
       f"labevent_id:{BIG}, subject_id:{INT}, hadm_id:{INT}, specimen_id:{BIG}, itemid:{INT}, "
       f"order_provider_id:{TXT}, charttime:{TS}, storetime:{TS}, value:{TXT}, valuenum:{DBL}, "
       f"valueuom:{TXT}, ref_range_lower:{DBL}, ref_range_upper:{DBL}, flag:{TXT}, "
       f"priority:{TXT}, comments:{TXT}"),
    _t("hosp", "microbiologyevents",
       f"microevent_id:{BIG}, subject_id:{INT}, hadm_id:{INT}, micro_specimen_id:{BIG}, "
       f"order_provider_id:{TXT}, chartdate:{TS}, charttime:{TS}, spec_itemid:{INT}, "
       f"spec_type_desc:{TXT}, test_seq:{INT}, storedate:{TS}, storetime:{TS}, "
       f"test_itemid:{INT}, test_name:{TXT}, org_itemid:{INT}, org_name:{TXT}, "
       f"isolate_num:{SMALL}, quantity:{TXT}, ab_itemid:{INT}, ab_name:{TXT}, "
       f"dilution_text:{TXT}, dilution_comparison:{TXT}, dilution_value:{DBL}, "
       f"interpretation:{TXT}, comments:{TXT}"),
    _t("hosp", "prescriptions",
       f"subject_id:{INT}, hadm_id:{INT}, pharmacy_id:{BIG}, poe_id:{TXT}, poe_seq:{INT}, "
       f"order_provider_id:{TXT}, starttime:{TS}, stoptime:{TS}, drug_type:{TXT}, drug:{TXT}, "
       f"formulary_drug_cd:{TXT}, gsn:{TXT}, ndc:{TXT}, prod_strength:{TXT}, form_rx:{TXT}, "
       f"dose_val_rx:{TXT}, dose_unit_rx:{TXT}, form_val_disp:{TXT}, form_unit_disp:{TXT}, "
       f"doses_per_24_hrs:{DBL}, route:{TXT}"),
    _t("icu", "icustays",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, first_careunit:{TXT}, "
       f"last_careunit:{TXT}, intime:{TS}, outtime:{TS}, los:{DBL}", primary_key="stay_id"),
    _t("icu", "chartevents",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, caregiver_id:{INT}, charttime:{TS}, "
       f"storetime:{TS}, itemid:{INT}, value:{TXT}, valuenum:{DBL}, valueuom:{TXT}, "
       f"warning:{SMALL}"),
    _t("icu", "inputevents",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, caregiver_id:{INT}, starttime:{TS}, "
       f"endtime:{TS}, storetime:{TS}, itemid:{INT}, amount:{DBL}, amountuom:{TXT}, rate:{DBL}, "
       f"rateuom:{TXT}, orderid:{BIG}, linkorderid:{BIG}, ordercategoryname:{TXT}, "
       f"secondaryordercategoryname:{TXT}, ordercomponenttypedescription:{TXT}, "
       f"ordercategorydescription:{TXT}, patientweight:{DBL}, totalamount:{DBL}, "
       f"totalamountuom:{TXT}, isopenbag:{SMALL}, continueinnextdept:{SMALL}, "
       f"statusdescription:{TXT}, originalamount:{DBL}, originalrate:{DBL}"),
    _t("icu", "outputevents",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, caregiver_id:{INT}, charttime:{TS}, "
       f"storetime:{TS}, itemid:{INT}, value:{DBL}, valueuom:{TXT}", may_be_empty=True),
    _t("icu", "procedureevents",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, caregiver_id:{INT}, starttime:{TS}, "
       f"endtime:{TS}, storetime:{TS}, itemid:{INT}, value:{DBL}, valueuom:{TXT}, "
       f"location:{TXT}, locationcategory:{TXT}, orderid:{BIG}, linkorderid:{BIG}, "
       f"ordercategoryname:{TXT}, ordercategorydescription:{TXT}, patientweight:{DBL}, "
       f"isopenbag:{SMALL}, continueinnextdept:{SMALL}, statusdescription:{TXT}, "
       f"ORIGINALAMOUNT:{DBL}, ORIGINALRATE:{DBL}", may_be_empty=True),
]

#: The tables every run reads (the concepts and every study), keyed by ``"<module>/<name>"``
#: (e.g. ``"icu/chartevents"``); the synthetic generator writes each of them.
TABLES: dict[str, TableSpec] = {f"{s.module}/{s.name}": s for s in _SPECS}

# Tables only some studies read: an exposure from hosp.emar (sql/cohort/exposure_event_emar.sql).
# A run whose studies do not read them neither requires, checks nor converts them (hosp.emar has
# 27-28 million rows and emar_detail 55-57 million in MIMIC-IV v2.x, 43 and 87 million in v3.x:
# mimic-code's buildmimic validate.sql row counts). Only the columns the
# SQL reads are listed (the loader selects columns by name); types from MIMIC-IV's
# documentation of the tables (mimic.mit.edu/docs/IV/modules/hosp/emar and .../emar_detail) and
# mimic-code's buildmimic/postgres/create.sql. ``emar_id`` ('<subject_id>-<emar_seq>') is text
# and identifies one administration event (one emar row). ``parent_field_ordinal`` is kept as
# text: it only tells the parent row (NULL) from the formulary-dose rows ('1.1', '1.2', ...).
# ``dose_given`` is free text in MIMIC-IV (VARCHAR(255)); the SQL parses it.
_OPTIONAL_SPECS = [
    _t("hosp", "emar",
       f"subject_id:{INT}, hadm_id:{INT}, emar_id:{TXT}, charttime:{TS}, medication:{TXT}, event_txt:{TXT}",
       primary_key="emar_id"),
    _t("hosp", "emar_detail",
       f"subject_id:{INT}, emar_id:{TXT}, parent_field_ordinal:{TXT}, dose_given:{TXT}, "
       f"dose_given_unit:{TXT}, route:{TXT}"),
]

#: Tables read only by the studies that need them (see :func:`icu_cohort.cohort.required_tables`):
#: not in the synthetic set, never required, checked or converted otherwise.
OPTIONAL_TABLES: dict[str, TableSpec] = {f"{s.module}/{s.name}": s for s in _OPTIONAL_SPECS}

#: Every table icu-cohort knows: :data:`TABLES` and :data:`OPTIONAL_TABLES`.
KNOWN_TABLES: dict[str, TableSpec] = {**TABLES, **OPTIONAL_TABLES}


def table(key: str) -> TableSpec:
    """The spec for ``"<module>/<name>"`` (any of :data:`KNOWN_TABLES`); a clear error for an
    unknown table."""
    try:
        return KNOWN_TABLES[key]
    except KeyError:
        raise KeyError(
            f"unknown MIMIC-IV table {key!r}; known tables: {', '.join(sorted(KNOWN_TABLES))}"
        ) from None


# --------------------------------------------------------------------------------------------
# Releases
# --------------------------------------------------------------------------------------------

#: The MIMIC-IV releases the loader reads, oldest first.
SUPPORTED_VERSIONS: tuple[str, ...] = ("2.2", "3.0", "3.1")

#: Per release, how its headers differ from the v2.2 columns of :data:`TABLES`, per table key:
#: ``{"rename": {v22_name: name_in_release}, "add": [(after_v22_name, new_name), ...],
#: "drop": [v22_name, ...]}``. Empty where the published schema shows no difference.
#:
#: Sources, checked for every table above:
#:
#: * v2.2: the open demo's headers (``mimic-iv-demo-2.2``, byte-identical to PhysioNet's files;
#:   its chartevents header is in the demo's NOTE.md), and mimic-code's v2.2
#:   ``buildmimic/postgres/create.sql`` (with ``caregiver_id``, ``admit_provider_id``,
#:   ``order_provider_id``, in the same order).
#: * v3.1: mimic-code's only build change for it was the expected row counts of
#:   ``validate.sql`` (mimic-code PR #1856, "Update row counts in validate scripts for MIMIC-IV
#:   v3.1", 2025); its ``load_gz.sql`` ``COPY ... CSV HEADER`` is positional, so v3.1's files
#:   have v2.2's columns in v2.2's order (an added, dropped or moved column would fail or shift
#:   every later column).
#: * v3.0: no header change is published; mimic-code issue #1772 (2024) reports what changed:
#:   lab ``itemid`` values (e.g. lymphocyte percentage 53152 in v2.2, 53132 in v3.0), i.e.
#:   content, not headers (see ``RELEASES["3.0"]["notes"]``).
#:
#: Releases may differ in the case of a name (procedureevents' ``ORIGINALAMOUNT`` is upper
#: case in v2.2 -- the demo, and mimic-code's ``bigquery/schemas/icu/procedureevents.json`` --
#: while create.sql and inputevents spell it ``originalamount``): the loader compares names
#: case-insensitively, so either spelling loads, and the Parquet files always use the names of
#: :data:`TABLES`.
VERSION_CHANGES: dict[str, dict[str, dict]] = {"2.2": {}, "3.0": {}, "3.1": {}}

#: What tells the releases apart, for :func:`icu_cohort.loader.detect_version`.
#: ``anchor_year_groups``: the values of ``patients.anchor_year_group`` (v3.x adds the
#: admissions of 2020-2022); ``doi``: the PhysioNet DOI of the release (its project page,
#: physionet.org/content/mimiciv/<version>/, and any README that cites it); ``notes``: content
#: changes a study should know about.
RELEASES: dict[str, dict] = {
    "2.2": {
        "doi": "10.13026/6mm1-ek67",
        "anchor_year_groups": ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019"),
        "notes": "",
    },
    "3.0": {
        "doi": "10.13026/hxp0-hg59",
        "anchor_year_groups": ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022"),
        "notes": ("v3.0 changed some lab itemids (mimic-code issue #1772, e.g. lymphocyte percentage "
                  "53152 -> 53132), which v3.1 fixed again; lab concepts written for v2.2 itemids may "
                  "miss values on v3.0: prefer v3.1"),
    },
    "3.1": {
        "doi": "10.13026/kpb9-mt58",
        "anchor_year_groups": ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022"),
        "notes": "",
    },
}

#: DOIs of other PhysioNet projects a MIMIC-IV-format folder may come from.
OTHER_DOIS: dict[str, str] = {"10.13026/07hj-2a80": "2.2 (the open MIMIC-IV demo)"}

#: Columns that appeared in v2.2: a header without them is from v2.0/v2.1 (mimic-code's
#: pre-2.2 create.sql has none of them), which the loader does not read.
V22_ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "hosp/admissions": ("admit_provider_id",),
    "hosp/labevents": ("order_provider_id",),
    "hosp/microbiologyevents": ("order_provider_id",),
    "hosp/prescriptions": ("order_provider_id",),
    "icu/chartevents": ("caregiver_id",),
    "icu/inputevents": ("caregiver_id",),
    "icu/outputevents": ("caregiver_id",),
    "icu/procedureevents": ("caregiver_id",),
}


def columns_for(key: str, version: str = "2.2") -> list[str]:
    """The header PhysioNet ships for table ``key`` in release ``version``, in file order.

    For writers of MIMIC-format files (the synthetic generator's ``--version``): write exactly
    these names in this order. The loader maps them back to the v2.2 names of :data:`TABLES`
    (case-insensitively), so the Parquet files look the same whatever the release.
    Raises ``KeyError`` for an unknown table or an unsupported version.
    """
    if version not in VERSION_CHANGES:
        raise KeyError(f"MIMIC-IV version {version!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}")
    names = table(key).column_names
    change = VERSION_CHANGES[version].get(key, {})
    names = [change.get("rename", {}).get(c, c) for c in names if c not in set(change.get("drop", ()))]
    for after, new in change.get("add", ()):
        names.insert(names.index(change.get("rename", {}).get(after, after)) + 1, new)
    return names


def column_aliases(key: str) -> dict[str, set[str]]:
    """``{catalogue name: lower-case names it has in any supported release}`` for table ``key``.

    The loader reads a column under any of these names (compared case-insensitively), so one
    reader serves every release in :data:`SUPPORTED_VERSIONS`.
    """
    aliases = {name: {name.lower()} for name in table(key).column_names}
    for changes in VERSION_CHANGES.values():
        for old, new in changes.get(key, {}).get("rename", {}).items():
            aliases[old].add(new.lower())
    return aliases
