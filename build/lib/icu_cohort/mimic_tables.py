"""The MIMIC-IV tables icu-cohort reads: file names, column order and column types.

Source of truth for three things at once:

* the loader's up-front check (every required file present, header holding every column);
* the loader's Parquet conversion (the types PhysioNet documents, as in mimic-code's
  ``mimic-iv/buildmimic/postgres/create.sql``: ids as integers, times as timestamps);
* the synthetic generator, which writes exactly these headers in exactly this order.

Column lists are the MIMIC-IV v2.2 headers as PhysioNet distributes them (checked against
the open demo, ``mimic-iv-demo-2.2``). Later versions (3.0, 3.1) keep these columns; the
loader selects columns by name, so extra or reordered columns in a newer release are fine.
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
    """One MIMIC-IV table: its module (``hosp`` or ``icu``), name and typed columns."""

    module: str
    name: str
    columns: tuple[tuple[str, str], ...]

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


def _t(module: str, name: str, cols: str) -> TableSpec:
    parsed = []
    for item in cols.split(","):
        col, typ = item.strip().split(":")
        parsed.append((col, typ))
    return TableSpec(module, name, tuple(parsed))


_SPECS = [
    _t("hosp", "patients",
       f"subject_id:{INT}, gender:{TXT}, anchor_age:{SMALL}, anchor_year:{SMALL}, "
       f"anchor_year_group:{TXT}, dod:{DATE}"),
    _t("hosp", "admissions",
       f"subject_id:{INT}, hadm_id:{INT}, admittime:{TS}, dischtime:{TS}, deathtime:{TS}, "
       f"admission_type:{TXT}, admit_provider_id:{TXT}, admission_location:{TXT}, "
       f"discharge_location:{TXT}, insurance:{TXT}, language:{TXT}, marital_status:{TXT}, "
       f"race:{TXT}, edregtime:{TS}, edouttime:{TS}, hospital_expire_flag:{SMALL}"),
    _t("hosp", "diagnoses_icd",
       f"subject_id:{INT}, hadm_id:{INT}, seq_num:{INT}, icd_code:{TXT}, icd_version:{SMALL}"),
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
       f"last_careunit:{TXT}, intime:{TS}, outtime:{TS}, los:{DBL}"),
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
       f"storetime:{TS}, itemid:{INT}, value:{DBL}, valueuom:{TXT}"),
    _t("icu", "procedureevents",
       f"subject_id:{INT}, hadm_id:{INT}, stay_id:{INT}, caregiver_id:{INT}, starttime:{TS}, "
       f"endtime:{TS}, storetime:{TS}, itemid:{INT}, value:{DBL}, valueuom:{TXT}, "
       f"location:{TXT}, locationcategory:{TXT}, orderid:{BIG}, linkorderid:{BIG}, "
       f"ordercategoryname:{TXT}, ordercategorydescription:{TXT}, patientweight:{DBL}, "
       f"isopenbag:{SMALL}, continueinnextdept:{SMALL}, statusdescription:{TXT}, "
       f"ORIGINALAMOUNT:{DBL}, ORIGINALRATE:{DBL}"),
]

#: Every table icu-cohort knows, keyed by ``"<module>/<name>"`` (e.g. ``"icu/chartevents"``).
TABLES: dict[str, TableSpec] = {f"{s.module}/{s.name}": s for s in _SPECS}


def table(key: str) -> TableSpec:
    """The spec for ``"<module>/<name>"``; a clear error for an unknown table."""
    try:
        return TABLES[key]
    except KeyError:
        raise KeyError(
            f"unknown MIMIC-IV table {key!r}; known tables: {', '.join(sorted(TABLES))}"
        ) from None
