"""Hospital-level tables: patients, admissions, icustays, diagnoses_icd, prescriptions,
microbiologyevents, and labevents of admissions without an ICU stay.

Diagnoses, antibiotics and cultures realise the plan of each ICU stay (see
synthetic_data/README.md): the codes listed in /tmp spec are planted per admission from the
admission's first ICU stay; stays with suspected infection get a blood culture 15-90 min after
intime and an IV antibiotic at the next full hour >= 15 min later; admissions whose stays are
planned without antibiotic get none at all. Oral magnesium (decoys) is prescribed to treated
and untreated stays alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import dgp
from .columns import Vocab, dates, floats, ids_from_counter, ints, nulls, times
from .icu_tables import lab_values
from .population import DAY, HOUR, MINUTE, NO_ABX, ceil_to, choose, rank_in_segment

# --------------------------------------------------------------------------------------
# patients, admissions, icustays
# --------------------------------------------------------------------------------------


def patients_table(pat: pd.DataFrame) -> pa.Table:
    dod = pat["dod"].to_numpy()
    cols = [ints(pat["subject_id"].to_numpy()), Vocab(["F", "M"]).column((pat["gender"] == "M").to_numpy().astype(np.int32)),
            ints(pat["anchor_age"].to_numpy()), ints(pat["anchor_year"].to_numpy()),
            Vocab(sorted(pat["anchor_year_group"].unique())).column(
                np.searchsorted(np.sort(pat["anchor_year_group"].unique()), pat["anchor_year_group"].to_numpy())),
            dates(np.maximum(dod, 0), mask=dod < 0)]
    return pa.Table.from_arrays(cols, names=["subject_id", "gender", "anchor_age", "anchor_year",
                                             "anchor_year_group", "dod"])


_ADM_TYPES_ICU = (("EW EMER.", 0.60), ("URGENT", 0.18), ("DIRECT EMER.", 0.05),
                  ("SURGICAL SAME DAY ADMISSION", 0.12), ("ELECTIVE", 0.05))
_ADM_TYPES_OTHER = (("EW EMER.", 0.33), ("OBSERVATION ADMIT", 0.18), ("URGENT", 0.12),
                    ("EU OBSERVATION", 0.12), ("SURGICAL SAME DAY ADMISSION", 0.09), ("ELECTIVE", 0.08),
                    ("DIRECT EMER.", 0.04), ("DIRECT OBSERVATION", 0.03), ("AMBULATORY OBSERVATION", 0.01))
_NON_ED_LOCATIONS = (("PHYSICIAN REFERRAL", 0.45), ("TRANSFER FROM HOSPITAL", 0.30), ("CLINIC REFERRAL", 0.10),
                     ("WALK-IN/SELF REFERRAL", 0.06), ("PROCEDURE SITE", 0.05),
                     ("TRANSFER FROM SKILLED NURSING FACILITY", 0.04))
_DISCH = (("HOME", 0.30), ("HOME HEALTH CARE", 0.30), ("SKILLED NURSING FACILITY", 0.18), ("REHAB", 0.08),
          ("CHRONIC/LONG TERM ACUTE CARE", 0.04), ("HOSPICE", 0.02), ("AGAINST ADVICE", 0.02), ("", 0.06))
_MARITAL = (("MARRIED", 0.40), ("SINGLE", 0.33), ("WIDOWED", 0.14), ("DIVORCED", 0.08), ("", 0.05))


def _pick(rng: np.random.Generator, table: tuple, n: int) -> tuple[Vocab, np.ndarray]:
    names = [t[0] for t in table]
    return Vocab(names), choose(rng, names, [t[1] for t in table], n).astype(np.int32)


def providers(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """A pool of provider ids like MIMIC's ('P' + 5 characters)."""
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype="U1")
    chars = np.ascontiguousarray(alphabet[rng.integers(0, alphabet.size, (n, 5))])
    return np.unique(np.char.add("P", chars.view("U5").ravel()))


def admissions_table(adm: pd.DataFrame, rng: np.random.Generator, provider_pool: np.ndarray) -> pa.Table:
    n = len(adm)
    icu = adm["is_icu"].to_numpy()
    vt_i, t_i = _pick(rng, _ADM_TYPES_ICU, n)
    vt_o, t_o = _pick(rng, _ADM_TYPES_OTHER, n)
    type_names = sorted(set(vt_i.values) | set(vt_o.values))
    v_type = Vocab(type_names)
    type_code = np.where(icu, v_type.codes(vt_i.values)[t_i], v_type.codes(vt_o.values)[t_o])
    via_ed = np.where(icu, adm["ed"].to_numpy(),
                      np.isin(type_code, v_type.codes(["EW EMER.", "EU OBSERVATION"])))
    v_loc, loc = _pick(rng, _NON_ED_LOCATIONS, n)
    loc_names = ["EMERGENCY ROOM"] + v_loc.values
    v_location = Vocab(loc_names)
    location = np.where(via_ed, 0, loc + 1)
    v_disch, disch = _pick(rng, _DISCH, n)
    dis_names = v_disch.values + ["DIED"]
    died = adm["hospital_expire_flag"].to_numpy() == 1
    disch = np.where(died, len(dis_names) - 1, disch)
    v_dis = Vocab(dis_names)
    age = adm["age"].to_numpy()
    u = rng.random((3, n))
    insurance = np.where(age >= 65, np.where(u[0] < 0.8, 0, np.where(u[0] < 0.9, 2, 1)),
                         np.where(u[0] < 0.2, 1, np.where(u[0] < 0.3, 0, 2)))
    v_mar, mar = _pick(rng, _MARITAL, n)
    races = sorted(adm["race"].unique())
    v_race = Vocab(races)
    admittime = adm["admittime"].to_numpy()
    edreg = admittime - MINUTE * rng.integers(60, 480, n)
    edout = admittime + MINUTE * rng.integers(0, 180, n)
    deathtime = adm["deathtime"].to_numpy()
    cols = [
        ints(adm["subject_id"].to_numpy()), ints(adm["hadm_id"].to_numpy()), times(admittime),
        times(adm["dischtime"].to_numpy()), times(np.maximum(deathtime, 0), mask=deathtime < 0),
        v_type.column(type_code), Vocab(list(provider_pool)).column(rng.integers(0, provider_pool.size, n)),
        v_location.column(location),
        v_dis.column(disch, mask=np.asarray(dis_names, dtype=object)[disch] == ""),
        Vocab(["Medicare", "Medicaid", "Other"]).column(insurance),
        Vocab(["ENGLISH", "?"]).column((u[1] < 0.08).astype(np.int32)),
        v_mar.column(mar, mask=np.asarray(v_mar.values, dtype=object)[mar] == ""),
        v_race.column(np.searchsorted(np.asarray(races, dtype=object), adm["race"].to_numpy())),
        times(edreg, mask=~via_ed), times(edout, mask=~via_ed), ints(died.astype(np.int8)),
    ]
    return pa.Table.from_arrays(cols, names=[
        "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
        "admit_provider_id", "admission_location", "discharge_location", "insurance", "language",
        "marital_status", "race", "edregtime", "edouttime", "hospital_expire_flag"])


def icustays_table(st: pd.DataFrame, rng: np.random.Generator) -> pa.Table:
    units = sorted(st["careunit"].unique())
    v = Vocab(units)
    first = np.searchsorted(np.asarray(units, dtype=object), st["careunit"].to_numpy())
    moved = rng.random(len(st)) < 0.08
    last = np.where(moved, rng.integers(0, len(units), len(st)), first)
    intime, outtime = st["intime"].to_numpy(), st["outtime"].to_numpy()
    cols = [ints(st["subject_id"].to_numpy()), ints(st["hadm_id"].to_numpy()), ints(st["stay_id"].to_numpy()),
            v.column(first), v.column(last), times(intime), times(outtime), floats((outtime - intime) / DAY)]
    return pa.Table.from_arrays(cols, names=["subject_id", "hadm_id", "stay_id", "first_careunit",
                                             "last_careunit", "intime", "outtime", "los"])


# --------------------------------------------------------------------------------------
# diagnoses_icd
# --------------------------------------------------------------------------------------

#: (ICD-9, ICD-10) code pairs the generator plants, by kind.
CODES: dict[str, tuple[tuple[str, str], ...]] = {
    "copd": (("496", "J449"),),
    "aki": (("5849", "N179"),),
    "heart_failure": (("4280", "I509"),),
    "diabetes": (("25000", "E119"),),
    "hypertension": (("4019", "I10"),),
    "ckd": (("5859", "N189"),),
    "liver_disease": (("5715", "K7460"),),
    "malignancy": (("1629", "C349"),),
    "sepsis": (("0389", "A419"),),
    "severe_sepsis": (("99592", "R6520"),),
    "delirium": (("2930", "F05"),),
    "neurological": (("43491", "I639"), ("431", "I619"), ("34590", "G40909"), ("3229", "G039"),
                     ("1919", "C719"), ("85400", "S06300A")),
    "metabolic_toxic": (("5722", "K7290"), ("2512", "E162"), ("2651", "E512"), ("4372", "I674")),
    "alcohol_drug": (("2910", "F10239"), ("29181", "F10129"), ("9650", "T401X1A")),
    "psychiatric": (("2959", "F209"), ("29680", "F319")),
    # acute ischaemic stroke (ais_mgso4; also in the SAE neurological list): ICD-9 434.91, 434.11,
    # 433.01, 433.11 (occlusion "with cerebral infarction"); ICD-10 I63.9, I63.412, I63.22, I63.50
    "ischaemic_stroke": (("43491", "I639"), ("43411", "I63412"), ("43301", "I6322"), ("43311", "I6350")),
    # decoy: occlusion and stenosis WITHOUT infarction (ICD-9 433.10, 433.20; ICD-10 I65.21, I65.1):
    # no acute ischaemic stroke, and in none of the SAE exclusion lists
    "cerebrovascular_no_infarction": (("43310", "I6521"), ("43320", "I651")),
    # filler: hyperlipidaemia, GERD, anaemia, anticoagulation, atrial fibrillation, obesity, UTI,
    # pneumonia -- matched by none of the study's lists nor by Charlson
    "filler": (("2724", "E785"), ("53081", "K219"), ("2859", "D649"), ("V5861", "Z7901"),
               ("42731", "I4891"), ("27800", "E669"), ("5990", "N390"), ("486", "J189")),
}
_KINDS = list(CODES)
_KIND_START = np.cumsum([0] + [len(CODES[k]) for k in _KINDS])[:-1]
_KIND_N = np.array([len(CODES[k]) for k in _KINDS])
_CODE_PAIRS = [pair for k in _KINDS for pair in CODES[k]]
_ICD = Vocab(sorted({c for pair in _CODE_PAIRS for c in pair}))
_CODE9 = _ICD.codes([p[0] for p in _CODE_PAIRS])
_CODE10 = _ICD.codes([p[1] for p in _CODE_PAIRS])


def diagnoses_table(adm: pd.DataFrame, flags: Mapping[str, np.ndarray], n_filler: np.ndarray,
                    icd9: np.ndarray, rng: np.random.Generator,
                    picked: dict[str, np.ndarray] | None = None) -> pa.Table:
    """One row per planted code; ``flags[kind]`` is a boolean per admission (kinds of :data:`CODES`).

    Kinds with several codes plant one of them at random. The sepsis code comes first (seq_num 1);
    the others are in random order. ``picked`` (optional, filled in): per kind, the index into
    ``CODES[kind]`` of the code planted on each admission, -1 where none (the stroke truth reads
    which neurological code an admission got).
    """
    n = len(adm)
    adm_idx, pair_idx, key = [], [], []
    for kind, flag in flags.items():                 # a fixed, small number of kinds
        sel = np.flatnonzero(flag)
        k = list(CODES).index(kind)
        adm_idx.append(sel)
        pair_idx.append(_KIND_START[k] + rng.integers(0, _KIND_N[k], sel.size))
        if picked is not None:
            picked[kind] = np.full(n, -1, np.int64)
            picked[kind][sel] = pair_idx[-1] - _KIND_START[k]
        key.append(np.where(kind == "sepsis", 0.0, 1.0 + rng.random(sel.size)))
    fstay = np.repeat(np.arange(n), n_filler)
    # filler codes: distinct per admission (a random permutation's first n_filler entries)
    k = list(CODES).index("filler")
    perm = np.argsort(rng.random((n, _KIND_N[k])), axis=1)
    rank = rank_in_segment(n_filler)
    adm_idx.append(fstay)
    pair_idx.append(_KIND_START[k] + perm[fstay, rank])
    key.append(1.0 + rng.random(fstay.size))
    a = np.concatenate(adm_idx)
    p = np.concatenate(pair_idx)
    kk = np.concatenate(key)
    order = np.lexsort((kk, a))
    a, p = a[order], p[order]
    seq = rank_in_segment(np.bincount(a, minlength=n)) + 1
    nine = icd9[a]
    code = np.where(nine, _CODE9[p], _CODE10[p])
    cols = [ints(adm["subject_id"].to_numpy()[a]), ints(adm["hadm_id"].to_numpy()[a]), ints(seq),
            _ICD.column(code), ints(np.where(nine, 9, 10).astype(np.int8))]
    return pa.Table.from_arrays(cols, names=["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"])


#: The neurological code pair that is an acute ischaemic stroke (ICD-9 434.91, ICD-10 I63.9):
#: index into ``CODES["neurological"]``.
STROKE_PAIR = 0


# --------------------------------------------------------------------------------------
# procedures_icd
# --------------------------------------------------------------------------------------

#: (ICD-9-CM vol. 3, ICD-10-PCS) procedure code pairs. Thrombectomy: 39.74 "endovascular
#: removal of obstruction from head and neck vessel(s)"; 03CG3ZZ "extirpation of matter from
#: intracranial artery, percutaneous approach". Filler (every ICU admission draws 1-3):
#: venous catheterisation 38.93 / 02HV33Z, continuous invasive mechanical ventilation 96.72 /
#: 5A1955Z, arterial catheterisation 38.91 / 03HY32Z, enteral infusion 96.6 / 3E0G76Z.
PROCEDURE_CODES: dict[str, tuple[tuple[str, str], ...]] = {
    # ICD-10-PCS 03C<body part>3ZZ: G intracranial (most), L / K internal carotid left / right,
    # P vertebral right (drawn 70/10/10/10 %); ICD-9 has the one code 39.74
    "thrombectomy": (("3974", "03CG3ZZ"), ("3974", "03CL3ZZ"), ("3974", "03CK3ZZ"), ("3974", "03CP3ZZ")),
    "filler": (("3893", "02HV33Z"), ("9672", "5A1955Z"), ("3891", "03HY32Z"), ("966", "3E0G76Z")),
}


#: Probabilities of the thrombectomy code pairs, in PROCEDURE_CODES["thrombectomy"] order.
THROMBECTOMY_WEIGHTS = (0.7, 0.1, 0.1, 0.1)


def procedures_table(adm: pd.DataFrame, icu_adm: np.ndarray, thrombectomy: np.ndarray, icd9: np.ndarray,
                     rng: np.random.Generator) -> pa.Table:
    """procedures_icd: 1-3 distinct filler procedures per ICU admission (``icu_adm``, boolean per
    admission) and, first (seq_num 1), a thrombectomy where ``thrombectomy`` is true; ICD-9-CM
    codes where ``icd9`` (the admission's coding system), else ICD-10-PCS. chartdate: the day
    of admission (the generator does not time procedures)."""
    n = len(adm)
    filler = PROCEDURE_CODES["filler"]
    n_fill = np.where(icu_adm, rng.integers(1, 4, n), 0)
    perm = np.argsort(rng.random((n, len(filler))), axis=1)
    a_fill = np.repeat(np.arange(n), n_fill)
    p_fill = perm[a_fill, rank_in_segment(n_fill)]
    a_thr = np.flatnonzero(thrombectomy)
    a = np.concatenate([a_thr, a_fill])
    is_thr = np.concatenate([np.ones(a_thr.size, bool), np.zeros(a_fill.size, bool)])
    # which thrombectomy code: drawn after the filler (the filler draws are unchanged)
    p_thr = np.searchsorted(np.cumsum(THROMBECTOMY_WEIGHTS), rng.random(a_thr.size), side="right")
    p = np.concatenate([np.minimum(p_thr, len(THROMBECTOMY_WEIGHTS) - 1), p_fill])
    order = np.lexsort((~is_thr, a))
    a, is_thr, p = a[order], is_thr[order], p[order]
    seq = rank_in_segment(np.bincount(a, minlength=n)) + 1
    nine = icd9[a]
    pairs9 = np.asarray([c[0] for c in filler], dtype=object)
    pairs10 = np.asarray([c[1] for c in filler], dtype=object)
    thr9 = np.asarray([c[0] for c in PROCEDURE_CODES["thrombectomy"]], dtype=object)
    thr10 = np.asarray([c[1] for c in PROCEDURE_CODES["thrombectomy"]], dtype=object)
    code = np.empty(a.size, dtype=object)
    t, f = is_thr, ~is_thr
    code[t] = np.where(nine[t], thr9[p[t]], thr10[p[t]])
    code[f] = np.where(nine[f], pairs9[p[f]], pairs10[p[f]])
    vocab = Vocab(sorted(set(code.tolist())) or [""])
    cols = [ints(adm["subject_id"].to_numpy()[a]), ints(adm["hadm_id"].to_numpy()[a]), ints(seq),
            dates(adm["admittime"].to_numpy()[a]),
            vocab.column(vocab.codes(code.tolist())),
            ints(np.where(nine, 9, 10).astype(np.int8))]
    return pa.Table.from_arrays(cols, names=["subject_id", "hadm_id", "seq_num", "chartdate", "icd_code",
                                             "icd_version"])


# --------------------------------------------------------------------------------------
# prescriptions
# --------------------------------------------------------------------------------------

#: drug, formulary_drug_cd, gsn, ndc, prod_strength, form_rx ("" = empty string, None = NULL),
#: dose_val_rx, dose_unit_rx, form_val_disp, form_unit_disp, doses_per_24_hrs, route, drug_type
DRUGS: dict[str, tuple] = {
    # antibiotics (mimic-code antibiotic.sql matches these names; routes are not ear/eye/topical)
    "vancomycin": ("Vancomycin", "VANC1F", "043952", "00338355248", "1 g Frozen Bag", "", "1000", "mg", "1", "BAG", 2.0, "IV", "MAIN"),
    "piptazo": ("Piperacillin-Tazobactam", "PIPT4F", "062575", "00206886102", "4.5 g Frozen Bag", "", "4.5", "g", "1", "BAG", 3.0, "IV", "MAIN"),
    "cefepime": ("CefePIME", "CEFE1I", "024094", "60505614604", "1g Vial", "", "1", "g", "1", "VIAL", 2.0, "IV", "MAIN"),
    "ceftriaxone": ("CefTRIAXone", "CEFR1I", "009162", "00409733201", "1g Vial", "", "1", "gm", "1", "VIAL", 1.0, "IV", "MAIN"),
    "meropenem": ("Meropenem", "MERO1I", "026489", "00310032165", "1000mg Vial", "", "1000", "mg", "1", "VIAL", 3.0, "IV", "MAIN"),
    "metronidazole": ("MetRONIDAZOLE (FLagyl)", "METR500PM", "008009", "00338105548", "500 mg Premix Bag", "", "500", "mg", "1", "BAG", 3.0, "IV", "MAIN"),
    "levofloxacin_iv": ("Levofloxacin", "LEVO750PM", "039364", "00409410320", "750mg Premix", "", "750", "mg", "1", "BAG", 1.0, "IV", "MAIN"),
    "levofloxacin_po": ("Levofloxacin", "LEV500", "029928", "50458092510", "500 mg Tablet", None, "500", "mg", "1", "TAB", 1.0, "PO", "MAIN"),
    # decoys: oral magnesium, never exposure
    "magnesium_oxide": ("Magnesium Oxide", "MAGN400", "001408", "63739035410", "400 mg Tab", None, "400", "mg", "1", "TAB", 1.0, "PO", "MAIN"),
    "milk_of_magnesia": ("Milk of Magnesia", "MOM30L", "003026", "00121043130", "30mL UD Cup", None, "30", "mL", "1", "UDCUP", None, "PO", "MAIN"),
    # the pharmacy order behind IV magnesium sulfate of treated stays (exposure is inputevents)
    "magnesium_sulfate_iv": ("Magnesium Sulfate", "MAG2PM", "016546", "00409672924", "2 g / 50 mL Premix Bag", "", "2", "gm", "1", "BAG", 1.0, "IV", "MAIN"),
    # other drugs (none matches an antibiotic name)
    "heparin": ("Heparin", "HEPA5I", "006549", "63323026201", "5000 Units / mL- 1mL Vial", None, "5000", "UNIT", "1", "mL", 3.0, "SC", "MAIN"),
    "acetaminophen": ("Acetaminophen", "ACET325", "004489", "00904198261", "325mg Tablet", None, "650", "mg", "2", "TAB", 4.0, "PO/NG", "MAIN"),
    "pantoprazole": ("Pantoprazole", "PANT40I", "047635", "00008092360", "40 mg Vial", "", "40", "mg", "1", "VIAL", 1.0, "IV", "MAIN"),
    "insulin": ("Insulin", "INRHI", "001723", "00002821501", "100 Units / mL - 10 mL Vial", None, "0", "UNIT", "0", "mL", None, "SC", "MAIN"),
    "docusate": ("Docusate Sodium", "DOCU100", "003009", "00904224461", "100mg Capsule", None, "100", "mg", "1", "CAP", 2.0, "PO", "MAIN"),
    "senna": ("Senna", "SENN187", "019964", "00904516561", "1 Tablet", None, "1", "TAB", "1", "TAB", None, "PO", "MAIN"),
    "ondansetron": ("Ondansetron", "ONDAN4I", "061716", "00641607825", "2mg/mL-2mL", None, "4", "mg", "1", "VIAL", 1.0, "IV", "MAIN"),
    "furosemide": ("Furosemide", "FURO20I", "008205", "00409610202", "20mg/2mL Vial", None, "20", "mg", "1", "VIAL", 1.0, "IV", "MAIN"),
    "potassium": ("Potassium Chloride", "KCL20PM", "045309", "00338070341", "20mEq/50mL Premix", "", "20", "mEq", "1", "BAG", None, "IV", "MAIN"),
    "d5w": ("D5W", None, None, None, None, None, "250", "mL", "250", "mL", None, "IV", "BASE"),
}
ANTIBIOTICS_IV = ("vancomycin", "piptazo", "cefepime", "ceftriaxone", "meropenem", "metronidazole", "levofloxacin_iv")
OTHER_DRUGS = ("heparin", "acetaminophen", "pantoprazole", "insulin", "docusate", "senna", "ondansetron",
               "furosemide", "potassium", "d5w")
DECOYS = ("magnesium_oxide", "milk_of_magnesia")
_DRUG_KEYS = list(DRUGS)
PRESCRIPTION_COLUMNS = ["subject_id", "hadm_id", "pharmacy_id", "poe_id", "poe_seq", "order_provider_id",
                        "starttime", "stoptime", "drug_type", "drug", "formulary_drug_cd", "gsn", "ndc",
                        "prod_strength", "form_rx", "dose_val_rx", "dose_unit_rx", "form_val_disp",
                        "form_unit_disp", "doses_per_24_hrs", "route"]


def _drug_field(field: int, empty_quoted: bool = False) -> tuple[Vocab, np.ndarray]:
    """Vocabulary of one catalogue field and a NULL mask per drug."""
    vals = [DRUGS[k][field] for k in _DRUG_KEYS]
    v = Vocab(sorted({x for x in vals if x is not None}), empty_quoted=empty_quoted)
    codes = np.array([v.code(x) if x is not None else 0 for x in vals], dtype=np.int32)
    null = np.array([x is None for x in vals])
    return v, codes, null


def prescriptions_table(rows: Mapping[str, np.ndarray], subject: np.ndarray, hadm: np.ndarray,
                        rng: np.random.Generator, provider_pool: np.ndarray) -> pa.Table:
    """Prescriptions from ``rows`` (``who`` = admission index, ``drug`` = catalogue index, times)."""
    who, drug = rows["who"], rows["drug"]
    start, stop = rows["start"], rows["stop"]
    subj = subject[who]
    order = np.lexsort((drug, start, subj))
    who, drug, start, stop, subj = (x[order] for x in (who, drug, start, stop, subj))
    n = who.size
    counts = np.bincount(np.unique(subj, return_inverse=True)[1])
    seq = rank_in_segment(counts) + 1 + np.repeat(rng.integers(5, 200, counts.size), counts)
    poe = pc.binary_join_element_wise(pc.cast(pa.array(subj), pa.string()), pc.cast(pa.array(seq), pa.string()), "-")
    cols = [ints(subj), ints(hadm[who]), ints(ids_from_counter(np.arange(n), mult=40_692), wide=True),
            poe, ints(seq), Vocab(list(provider_pool)).column(rng.integers(0, provider_pool.size, n)),
            times(start), times(stop)]
    names_fields = {"drug_type": 12, "drug": 0, "formulary_drug_cd": 1, "gsn": 2, "ndc": 3, "prod_strength": 4,
                    "form_rx": 5, "dose_val_rx": 6, "dose_unit_rx": 7, "form_val_disp": 8, "form_unit_disp": 9}
    built = {}
    for name, field in names_fields.items():
        v, codes, null = _drug_field(field, empty_quoted=(name == "form_rx"))
        built[name] = v.column(codes[drug], mask=null[drug])
    per24 = np.array([np.nan if DRUGS[k][10] is None else DRUGS[k][10] for k in _DRUG_KEYS])
    v_route, route_codes, _ = _drug_field(11)
    cols += [built[k] for k in ("drug_type", "drug", "formulary_drug_cd", "gsn", "ndc", "prod_strength",
                                "form_rx", "dose_val_rx", "dose_unit_rx", "form_val_disp", "form_unit_disp")]
    cols += [floats(per24[drug]), v_route.column(route_codes[drug])]
    return pa.Table.from_arrays(cols, names=PRESCRIPTION_COLUMNS)


def prescription_rows(st: pd.DataFrame, adm: pd.DataFrame, stay_adm: np.ndarray, rng: np.random.Generator,
                      params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Prescription rows (admission index, drug index, start, stop) for ICU stays and other admissions."""
    M = params["medication"]
    D = {k: i for i, k in enumerate(_DRUG_KEYS)}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    n = len(st)
    intime, outtime = st["intime"].to_numpy(), st["outtime"].to_numpy()

    def add(who, drug, start, dur_h):
        start = ceil_to(start, HOUR)
        stop = start + HOUR * np.maximum(np.round(dur_h), 1).astype(np.int64)
        parts.append((who, np.broadcast_to(drug, who.shape).astype(np.int64), start, stop))

    # antibiotics: the first at abx_time (next full hour after the culture), maybe a second
    ab = np.flatnonzero(st["mode"].to_numpy() != NO_ABX)
    abx_ids = np.array([D[k] for k in ANTIBIOTICS_IV])
    first_i = rng.integers(0, abx_ids.size, ab.size)
    add(stay_adm[ab], abx_ids[first_i], st["abx_time"].to_numpy()[ab], rng.uniform(48, 170, ab.size))
    two = np.flatnonzero(rng.random(ab.size) < 0.6)          # a second, different antibiotic
    second_i = (first_i[two] + 1 + rng.integers(0, abx_ids.size - 1, two.size)) % abx_ids.size
    add(stay_adm[ab[two]], abx_ids[second_i], st["abx_time"].to_numpy()[ab[two]], rng.uniform(48, 170, two.size))
    # IV magnesium sulfate orders of treated stays (exposure itself is read from inputevents)
    tr = np.flatnonzero(st["treated"].to_numpy() == 1)
    if "_first_dose" in st.columns:       # time-varying DGP: ordered 15 min before the first dose
        rx_time = st["_first_dose"].to_numpy()[tr] - 15 * MINUTE
    else:
        rx_time = intime[tr] + HOUR
    add(stay_adm[tr], D["magnesium_sulfate_iv"], rx_time, rng.uniform(12, 48, tr.size))
    # decoys: oral magnesium for treated and untreated stays alike
    for key, p in (("magnesium_oxide", M["magnesium_oxide_po"]), ("milk_of_magnesia", M["milk_of_magnesia_po"])):
        d = np.flatnonzero(rng.random(n) < float(p))
        t = intime[d] + np.floor(rng.random(d.size) * np.maximum(outtime[d] - intime[d] - HOUR, HOUR)).astype(np.int64)
        add(stay_adm[d], D[key], t, rng.uniform(12, 72, d.size))
    # other drugs: 3-8 per ICU stay during the stay
    k = rng.integers(3, 9, n)
    s = np.repeat(np.arange(n), k)
    other = np.array([D[x] for x in OTHER_DRUGS])
    t = intime[s] + np.floor(rng.random(s.size) * np.maximum(outtime[s] - intime[s] - HOUR, HOUR)).astype(np.int64)
    add(stay_adm[s], other[rng.integers(0, other.size, s.size)], t, rng.uniform(6, 96, s.size))

    # admissions without a kept ICU stay: 2-6 drugs, sometimes an oral antibiotic or a decoy
    plain = np.flatnonzero(~np.isin(np.arange(len(adm)), stay_adm))
    a_in, a_out = adm["admittime"].to_numpy()[plain], adm["dischtime"].to_numpy()[plain]
    k = rng.integers(2, 7, plain.size)
    w = np.repeat(np.arange(plain.size), k)
    t = a_in[w] + np.floor(rng.random(w.size) * np.maximum(a_out[w] - a_in[w] - HOUR, HOUR)).astype(np.int64)
    add(plain[w], other[rng.integers(0, other.size, w.size)], t, rng.uniform(6, 72, w.size))
    for key, p in (("levofloxacin_po", 0.15), ("magnesium_oxide", 0.06), ("milk_of_magnesia", 0.06)):
        sel = np.flatnonzero(rng.random(plain.size) < p)
        t = a_in[sel] + np.floor(rng.random(sel.size) * np.maximum(a_out[sel] - a_in[sel] - HOUR, HOUR)).astype(np.int64)
        add(plain[sel], D[key], t, rng.uniform(24, 120, sel.size))
    who, drug, start, stop = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return {"who": who, "drug": drug, "start": start, "stop": stop}


# --------------------------------------------------------------------------------------
# microbiologyevents
# --------------------------------------------------------------------------------------

MICRO_COLUMNS = ["microevent_id", "subject_id", "hadm_id", "micro_specimen_id", "order_provider_id",
                 "chartdate", "charttime", "spec_itemid", "spec_type_desc", "test_seq", "storedate",
                 "storetime", "test_itemid", "test_name", "org_itemid", "org_name", "isolate_num",
                 "quantity", "ab_itemid", "ab_name", "dilution_text", "dilution_comparison",
                 "dilution_value", "interpretation", "comments"]
_ORGS = ((80002, "ESCHERICHIA COLI"), (80023, "STAPH AUREUS COAG +"), (80026, "PSEUDOMONAS AERUGINOSA"),
         (80004, "KLEBSIELLA PNEUMONIAE"))
_ABS = ((90018, "CEFTRIAXONE", "<=1", 1.0), (90029, "MEROPENEM", "<=0.25", 0.25),
        (90015, "VANCOMYCIN", "1", 1.0), (90017, "CEFTAZIDIME", "<=1", 1.0))


def microbiology_table(st: pd.DataFrame, adm: pd.DataFrame, stay_adm: np.ndarray,
                       rng: np.random.Generator) -> pa.Table:
    """Blood cultures of stays with suspected infection (30 % grow an organism with three
    susceptibilities); urine cultures in some admissions without an ICU stay."""
    ab = np.flatnonzero(st["mode"].to_numpy() != NO_ABX)
    positive = rng.random(ab.size) < 0.3
    n_rows = np.where(positive, 4, 1)                 # organism row + 3 susceptibilities
    e, r = np.repeat(np.arange(ab.size), n_rows), rank_in_segment(n_rows)
    stay = ab[e]
    t = st["culture_time"].to_numpy()[stay]
    org = rng.integers(0, len(_ORGS), ab.size)[e]
    pos = positive[e]
    abx = (rng.integers(0, len(_ABS), ab.size)[e] + r) % len(_ABS)
    has_ab = pos & (r > 0)
    # urine cultures of admissions without an ICU stay
    plain = np.flatnonzero(~np.isin(np.arange(len(adm)), stay_adm))
    uc = plain[rng.random(plain.size) < 0.10]
    ut = adm["admittime"].to_numpy()[uc] + MINUTE * rng.integers(30, 600, uc.size)
    m_blood, m_urine = stay.size, uc.size
    n = m_blood + m_urine
    who_adm = np.concatenate([stay_adm[stay], uc])
    tt = np.concatenate([t, ut])
    spec_local = np.concatenate([e, ab.size + np.arange(m_urine)])
    is_blood = np.arange(n) < m_blood
    org_all = np.concatenate([org, np.zeros(m_urine, np.int64)])
    pos_all = np.concatenate([pos, np.zeros(m_urine, bool)])
    has_ab_all = np.concatenate([has_ab, np.zeros(m_urine, bool)])
    abx_all = np.concatenate([abx, np.zeros(m_urine, np.int64)])
    store = tt + DAY * rng.integers(2, 5, n) + MINUTE * rng.integers(0, 600, n)
    v_org = Vocab([o[1] for o in _ORGS])
    v_ab = Vocab([a[1] for a in _ABS])
    v_dil = Vocab(sorted({a[2] for a in _ABS}))
    dil_code = v_dil.codes([a[2] for a in _ABS])
    cmp_code = np.array([0 if a[2].startswith("<=") else 1 for a in _ABS])
    comments = Vocab(["NO GROWTH."])
    cols = [
        ints(np.arange(1, n + 1), wide=True), ints(adm["subject_id"].to_numpy()[who_adm]),
        ints(adm["hadm_id"].to_numpy()[who_adm]), ints(ids_from_counter(spec_local, mult=22_695), wide=True),
        nulls(n), times(tt // DAY * DAY), times(tt),
        ints(np.where(is_blood, 70012, 70079)), Vocab(["BLOOD CULTURE", "URINE"]).column((~is_blood).astype(np.int32)),
        ints(np.ones(n, np.int32)), times(store // DAY * DAY), times(store),
        ints(np.where(is_blood, 90201, 90039)),
        Vocab(["Blood Culture, Routine", "URINE CULTURE"]).column((~is_blood).astype(np.int32)),
        ints(np.array([o[0] for o in _ORGS])[org_all], mask=~pos_all), v_org.column(org_all, mask=~pos_all),
        ints(np.ones(n, np.int16), mask=~pos_all), nulls(n),
        ints(np.array([a[0] for a in _ABS])[abx_all], mask=~has_ab_all), v_ab.column(abx_all, mask=~has_ab_all),
        v_dil.column(dil_code[abx_all], mask=~has_ab_all),
        Vocab(["<=        ", "=         "]).column(cmp_code[abx_all], mask=~has_ab_all),
        floats(np.array([a[3] for a in _ABS])[abx_all], mask=~has_ab_all),
        Vocab(["S"]).column(np.zeros(n, np.int32), mask=~has_ab_all),
        comments.column(np.zeros(n, np.int32), mask=pos_all),
    ]
    return pa.Table.from_arrays(cols, names=MICRO_COLUMNS)


# --------------------------------------------------------------------------------------
# labevents of admissions without an ICU stay
# --------------------------------------------------------------------------------------

def ward_lab_events(adm: pd.DataFrame, sel: np.ndarray, rng: np.random.Generator,
                    params: Mapping[str, Any]) -> list[dict[str, np.ndarray]]:
    """CBC + chemistry at admission and every 48 h of admissions ``sel`` (mild values)."""
    from .icu_tables import _panel_rows
    n = sel.size
    S = rng.normal(-0.6, 0.6, n)
    comorb = {k: np.zeros(n) for k in ("ckd", "liver_disease", "diabetes")}
    z = rng.standard_normal((len(dgp.LABS), n))
    base = {lab: dgp._lognormal_lab(params["covariates"]["labs"][lab], z[i], S, comorb)
            for i, lab in enumerate(dgp.LABS)}
    vals = lab_values(base, rng, n, S)
    a_in, a_out = adm["admittime"].to_numpy()[sel], adm["dischtime"].to_numpy()[sel]
    k = np.maximum((a_out - a_in - 6 * HOUR) // (2 * DAY) + 1, 1)
    who, j = np.repeat(np.arange(n), k), rank_in_segment(k)
    t = (a_in[who] + MINUTE * rng.integers(60, 360, who.size) + j * 2 * DAY) // MINUTE * MINUTE
    t = np.minimum(t, a_out[who] - MINUTE)
    v = {nm: x[who] * np.exp(rng.normal(0, 0.03, who.size)) for nm, x in vals.items()}
    return [_panel_rows(who, t, "cbc", v, priority=0), _panel_rows(who, t, "chem", v, priority=0)]
