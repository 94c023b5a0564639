"""The synthetic data meet their plan under mimic-code's definitions, checked independently.

This module ports, in plain DuckDB SQL, the mimic-code (MIT-LCP/mimic-code, mimic-iv/concepts)
logic the SAE study relies on -- suspicion_of_infection, gcs, vitalsign, chemistry /
complete_blood_count / enzyme, bg, ventilation, urine_output(_rate), norepinephrine & co.,
icustay_hourly, sofa, sepsis3, first_day_gcs / first_day_lab / first_day_vitalsign /
first_day_sofa -- and checks on a generated set that:

* every attrition step holds exactly for the stays the generator calls eligible, and fails for
  the others at the planned step (``ground_truth_stays.csv``: ``eligible``);
* exposure (inputevents 222011/227523) within 48 h equals ``treated``; later first doses are the
  late doses of ``iv_mgso4_first_dose_hours``; oral magnesium is never exposure;
* the first-day covariates the DGP draws are what the SQL measures (labs, vitals means, lowest
  GCS, first-day SOFA, ventilation, vasopressor, CRRT).

It is independent of the project's own sql/ (written by another team): a second reading of
the same definitions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from icu_cohort.mimic_tables import TABLES
from icu_cohort.synth import generate, load_params
from icu_cohort.synth.population import build_population

N_PATIENTS, SEED = 1500, 7

ANTIBIOTIC_STEMS = (
    "adoxa", "amikacin", "amoxicill", "amphotericin", "ampicillin", "augmentin", "azithromycin",
    "aztreonam", "bactrim", "cefazolin", "cefepime", "cefoxitin", "ceftazidime", "ceftriaxone",
    "cefuroxime", "cephalexin", "cipro", "clavulanate", "clindamycin", "doxycy", "erythromycin",
    "flagyl", "gentamicin", "keflex", "levofloxacin", "linezolid", "meropenem", "metronidazole",
    "minocycline", "moxifloxacin", "mupirocin", "nafcillin", "neomycin", "nitrofurantoin",
    "oxacillin", "penicillin", "piperacillin", "rifampin", "sulfamethoxazole", "tazobactam",
    "tetracycline", "tobramycin", "trimethoprim", "unasyn", "vancomycin", "zosyn", "zyvox",
)
DELIRIUM = {9: ("2930",), 10: ("F05",)}
EXCLUDE = {
    "neurological": {9: ("43491", "431", "34590", "3229", "1919", "85400", "43411", "43301", "43311"),
                     10: ("I639", "I619", "G40909", "G039", "C719", "S06300A", "I63412", "I6322", "I6350")},
    "metabolic_toxic": {9: ("5722", "2512", "2651", "4372"), 10: ("K7290", "E162", "E512", "I674")},
    "alcohol_drug": {9: ("2910", "29181", "9650"), 10: ("F10239", "F10129", "T401X1A")},
    "psychiatric": {9: ("2959", "29680"), 10: ("F209", "F319")},
}


def _load(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    for spec in TABLES.values():
        cols = ", ".join(f"'{c}': '{t}'" for c, t in spec.columns)
        con.execute(f"CREATE TABLE {spec.name} AS SELECT * FROM read_csv('{root / spec.relpath}', header=true, "
                    f"columns={{{cols}}}, auto_detect=false)")


def _prefix_sql(codes: dict[int, tuple[str, ...]]) -> str:
    parts = [f"(icd_version = {v} AND ({' OR '.join(f'icd_code LIKE {c!r} || ' + chr(39) + '%' + chr(39) for c in cs)}))"
             for v, cs in codes.items()]
    return "(" + " OR ".join(parts) + ")"


CONCEPTS = r"""
CREATE TABLE age AS
SELECT a.hadm_id, p.anchor_age + (year(a.admittime) - p.anchor_year) AS age
FROM admissions a JOIN patients p USING (subject_id);

CREATE TABLE stays AS
SELECT ie.*, ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY intime) = 1 AS is_first
FROM icustays ie;

-- antibiotic.sql
CREATE TABLE antibiotic AS
SELECT pr.subject_id, pr.hadm_id, ie.stay_id, pr.drug AS antibiotic, pr.route, pr.starttime, pr.stoptime
FROM prescriptions pr
LEFT JOIN icustays ie ON pr.hadm_id = ie.hadm_id AND pr.starttime >= ie.intime AND pr.starttime < ie.outtime
WHERE pr.drug_type NOT IN ('BASE')
  AND pr.route NOT IN ('OU', 'OS', 'OD', 'AU', 'AS', 'AD', 'TP')
  AND lower(pr.route) NOT LIKE '%ear%' AND lower(pr.route) NOT LIKE '%eye%'
  AND lower(pr.drug) NOT LIKE '%cream%' AND lower(pr.drug) NOT LIKE '%desensitization%'
  AND lower(pr.drug) NOT LIKE '%ophth oint%' AND lower(pr.drug) NOT LIKE '%gel%'
  AND (__ABX__);

-- suspicion_of_infection.sql
CREATE TABLE soi AS
WITH ab_tbl AS (
  SELECT subject_id, hadm_id, stay_id, antibiotic, starttime AS antibiotic_time,
         date_trunc('day', starttime) AS antibiotic_date, stoptime AS antibiotic_stoptime,
         ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY starttime, stoptime, antibiotic) AS ab_id
  FROM antibiotic
), me AS (
  SELECT micro_specimen_id, MAX(subject_id) AS subject_id, MAX(hadm_id) AS hadm_id,
         CAST(MAX(chartdate) AS DATE) AS chartdate, MAX(charttime) AS charttime,
         MAX(spec_type_desc) AS spec_type_desc,
         MAX(CASE WHEN org_name IS NOT NULL AND org_itemid != 90856 AND org_name != '' THEN 1 ELSE 0 END) AS positiveculture
  FROM microbiologyevents GROUP BY micro_specimen_id
), me_then_ab AS (
  SELECT ab_tbl.subject_id, ab_tbl.ab_id, COALESCE(me72.charttime, CAST(me72.chartdate AS TIMESTAMP)) AS last72_charttime,
         me72.spec_type_desc AS last72_specimen,
         ROW_NUMBER() OVER (PARTITION BY ab_tbl.subject_id, ab_tbl.ab_id ORDER BY me72.chartdate, me72.charttime NULLS LAST) AS micro_seq
  FROM ab_tbl LEFT JOIN me me72 ON ab_tbl.subject_id = me72.subject_id AND (
      (me72.charttime IS NOT NULL AND ab_tbl.antibiotic_time > me72.charttime
       AND ab_tbl.antibiotic_time <= me72.charttime + INTERVAL 72 HOUR)
      OR (me72.charttime IS NULL AND antibiotic_date >= me72.chartdate AND antibiotic_date <= me72.chartdate + INTERVAL 3 DAY))
), ab_then_me AS (
  SELECT ab_tbl.subject_id, ab_tbl.ab_id, COALESCE(me24.charttime, CAST(me24.chartdate AS TIMESTAMP)) AS next24_charttime,
         me24.spec_type_desc AS next24_specimen,
         ROW_NUMBER() OVER (PARTITION BY ab_tbl.subject_id, ab_tbl.ab_id ORDER BY me24.chartdate, me24.charttime NULLS LAST) AS micro_seq
  FROM ab_tbl LEFT JOIN me me24 ON ab_tbl.subject_id = me24.subject_id AND (
      (me24.charttime IS NOT NULL AND ab_tbl.antibiotic_time >= me24.charttime - INTERVAL 24 HOUR
       AND ab_tbl.antibiotic_time < me24.charttime)
      OR (me24.charttime IS NULL AND ab_tbl.antibiotic_date >= me24.chartdate - INTERVAL 1 DAY
          AND ab_tbl.antibiotic_date <= me24.chartdate))
)
SELECT ab_tbl.subject_id, ab_tbl.stay_id, ab_tbl.hadm_id, ab_tbl.ab_id, ab_tbl.antibiotic, ab_tbl.antibiotic_time,
       CASE WHEN last72_specimen IS NULL AND next24_specimen IS NULL THEN 0 ELSE 1 END AS suspected_infection,
       CASE WHEN last72_specimen IS NULL AND next24_specimen IS NULL THEN NULL
            ELSE COALESCE(last72_charttime, antibiotic_time) END AS suspected_infection_time,
       COALESCE(last72_charttime, next24_charttime) AS culture_time
FROM ab_tbl
LEFT JOIN ab_then_me ab2me ON ab_tbl.subject_id = ab2me.subject_id AND ab_tbl.ab_id = ab2me.ab_id AND ab2me.micro_seq = 1
LEFT JOIN me_then_ab me2ab ON ab_tbl.subject_id = me2ab.subject_id AND ab_tbl.ab_id = me2ab.ab_id AND me2ab.micro_seq = 1;

-- gcs.sql
CREATE TABLE gcs AS
WITH base AS (
  SELECT subject_id, stay_id, charttime,
    MAX(CASE WHEN itemid = 223901 THEN valuenum END) AS gcsmotor,
    MAX(CASE WHEN itemid = 223900 AND value = 'No Response-ETT' THEN 0 WHEN itemid = 223900 THEN valuenum END) AS gcsverbal,
    MAX(CASE WHEN itemid = 220739 THEN valuenum END) AS gcseyes,
    ROW_NUMBER() OVER (PARTITION BY stay_id ORDER BY charttime) AS rn
  FROM chartevents WHERE itemid IN (223900, 223901, 220739) GROUP BY subject_id, stay_id, charttime
)
SELECT b.stay_id, b.charttime,
  CASE WHEN b.gcsverbal = 0 THEN 15
       WHEN b.gcsverbal IS NULL AND b2.gcsverbal = 0 THEN 15
       WHEN b2.gcsverbal = 0 THEN COALESCE(b.gcsmotor, 6) + COALESCE(b.gcsverbal, 5) + COALESCE(b.gcseyes, 4)
       ELSE COALESCE(b.gcsmotor, COALESCE(b2.gcsmotor, 6)) + COALESCE(b.gcsverbal, COALESCE(b2.gcsverbal, 5))
          + COALESCE(b.gcseyes, COALESCE(b2.gcseyes, 4)) END AS gcs
FROM base b LEFT JOIN base b2 ON b.stay_id = b2.stay_id AND b.rn = b2.rn + 1
  AND b2.charttime > b.charttime - INTERVAL 6 HOUR;

-- vitalsign.sql (the columns used here)
CREATE TABLE vitalsign AS
SELECT stay_id, charttime,
  AVG(CASE WHEN itemid = 220045 AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS heart_rate,
  AVG(CASE WHEN itemid IN (220052, 220181, 225312) AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS mbp,
  AVG(CASE WHEN itemid IN (220210, 224690) AND valuenum > 0 AND valuenum < 70 THEN valuenum END) AS resp_rate,
  ROUND(AVG(CASE WHEN itemid = 223761 AND valuenum > 70 AND valuenum < 120 THEN (valuenum - 32) / 1.8
                 WHEN itemid = 223762 AND valuenum > 10 AND valuenum < 50 THEN valuenum END), 2) AS temperature,
  AVG(CASE WHEN itemid = 220277 AND valuenum > 0 AND valuenum <= 100 THEN valuenum END) AS spo2
FROM chartevents WHERE stay_id IS NOT NULL
  AND itemid IN (220045, 220052, 220181, 225312, 220210, 224690, 223761, 223762, 220277)
GROUP BY stay_id, charttime;

-- chemistry / complete_blood_count / enzyme / coagulation (by specimen)
CREATE TABLE labs AS
SELECT MAX(subject_id) AS subject_id, MAX(hadm_id) AS hadm_id, MAX(charttime) AS charttime, specimen_id,
  MAX(CASE WHEN itemid = 51301 THEN valuenum END) AS wbc,
  MAX(CASE WHEN itemid = 51222 THEN valuenum END) AS hemoglobin,
  MAX(CASE WHEN itemid = 51265 THEN valuenum END) AS platelet,
  MAX(CASE WHEN itemid = 50912 AND valuenum <= 150 THEN valuenum END) AS creatinine,
  MAX(CASE WHEN itemid = 51006 AND valuenum <= 300 THEN valuenum END) AS bun,
  MAX(CASE WHEN itemid = 50931 AND valuenum <= 10000 THEN valuenum END) AS glucose,
  MAX(CASE WHEN itemid = 50983 AND valuenum <= 200 THEN valuenum END) AS sodium,
  MAX(CASE WHEN itemid = 50971 AND valuenum <= 30 THEN valuenum END) AS potassium,
  MAX(CASE WHEN itemid = 50893 AND valuenum <= 10000 THEN valuenum END) AS calcium,
  MAX(CASE WHEN itemid = 50960 THEN valuenum END) AS magnesium,
  MAX(CASE WHEN itemid = 50885 THEN valuenum END) AS bilirubin,
  MAX(CASE WHEN itemid = 51237 THEN valuenum END) AS inr
FROM labevents WHERE valuenum IS NOT NULL AND valuenum > 0
  AND itemid IN (51301, 51222, 51265, 50912, 51006, 50931, 50983, 50971, 50893, 50960, 50885, 51237)
GROUP BY specimen_id;

-- bg.sql (arterial PaO2/FiO2 and lactate)
CREATE TABLE bg AS
WITH b AS (
  SELECT MAX(subject_id) AS subject_id, MAX(hadm_id) AS hadm_id, MAX(charttime) AS charttime, specimen_id,
    MAX(CASE WHEN itemid = 52033 THEN value END) AS specimen,
    MAX(CASE WHEN itemid = 50813 AND valuenum <= 10000 THEN valuenum END) AS lactate,
    MAX(CASE WHEN itemid = 50816 THEN CASE WHEN valuenum > 20 AND valuenum <= 100 THEN valuenum
                                           WHEN valuenum > 0.2 AND valuenum <= 1.0 THEN valuenum * 100.0 END END) AS fio2,
    MAX(CASE WHEN itemid = 50821 THEN valuenum END) AS po2
  FROM labevents WHERE itemid IN (52033, 50813, 50816, 50821) GROUP BY specimen_id
)
SELECT *, CASE WHEN po2 IS NULL THEN NULL WHEN fio2 IS NOT NULL THEN 100 * po2 / fio2 END AS pao2fio2ratio
FROM b WHERE po2 IS NOT NULL;

-- ventilation.sql (statuses from O2 device / vent mode)
CREATE TABLE ventilation AS
WITH vs AS (
  SELECT stay_id, charttime,
    MAX(CASE WHEN itemid = 226732 THEN value END) AS dev,
    MAX(CASE WHEN itemid = 223849 THEN value END) AS mode
  FROM chartevents WHERE itemid IN (226732, 223849) AND value IS NOT NULL GROUP BY stay_id, charttime
), st AS (
  SELECT stay_id, charttime,
    CASE WHEN dev IN ('Tracheostomy tube', 'Trach mask ') THEN 'Tracheostomy'
         WHEN dev = 'Endotracheal tube' OR mode IN ('CMV/ASSIST/AutoFlow', 'SIMV/PSV/AutoFlow', 'CMV/ASSIST') THEN 'InvasiveVent'
         WHEN dev IN ('Bipap mask ', 'CPAP mask ') THEN 'NonInvasiveVent'
         WHEN dev = 'High flow nasal cannula' THEN 'HFNC'
         WHEN dev IN ('Non-rebreather', 'Face tent', 'Aerosol-cool', 'Venti mask ', 'Medium conc mask ',
                      'Ultrasonic neb', 'Vapomist', 'Oxymizer', 'High flow neb', 'Nasal cannula') THEN 'SupplementalOxygen'
         WHEN dev = 'None' THEN 'None' END AS ventilation_status
  FROM vs
), vd0 AS (
  SELECT stay_id, charttime, ventilation_status,
    LAG(charttime) OVER (PARTITION BY stay_id, ventilation_status ORDER BY charttime) AS charttime_lag,
    LEAD(charttime) OVER w AS charttime_lead,
    LAG(ventilation_status) OVER w AS ventilation_status_lag
  FROM st WHERE ventilation_status IS NOT NULL
  WINDOW w AS (PARTITION BY stay_id ORDER BY charttime)
), vd1 AS (
  SELECT *, CASE WHEN date_diff('hour', charttime_lag, charttime) >= 14 THEN 1
                 WHEN ventilation_status_lag IS NULL THEN 1
                 WHEN ventilation_status_lag != ventilation_status THEN 1 ELSE 0 END AS new_status
  FROM vd0
), vd2 AS (
  SELECT *, SUM(new_status) OVER (PARTITION BY stay_id ORDER BY charttime) AS vent_num FROM vd1
)
SELECT stay_id, MIN(charttime) AS starttime,
  MAX(CASE WHEN charttime_lead IS NULL OR date_diff('hour', charttime, charttime_lead) >= 14 THEN charttime
           ELSE charttime_lead END) AS endtime,
  MAX(ventilation_status) AS ventilation_status
FROM vd2 GROUP BY stay_id, vent_num HAVING MIN(charttime) != MAX(charttime);

-- urine_output.sql + urine_output_rate.sql (24-hour part)
CREATE TABLE uo AS
SELECT stay_id, charttime, SUM(value) AS urineoutput FROM outputevents
WHERE itemid IN (226559, 226560, 226561, 226584, 226563, 226564, 226565, 226567, 226557, 226558, 227488, 227489)
GROUP BY stay_id, charttime;
CREATE TABLE icustay_times AS
SELECT ie.stay_id, MIN(ce.charttime) AS intime_hr, MAX(ce.charttime) AS outtime_hr
FROM icustays ie JOIN chartevents ce ON ie.stay_id = ce.stay_id AND ce.itemid = 220045
GROUP BY ie.stay_id;
CREATE TABLE uo_rate AS
WITH uo_tm AS (
  SELECT tm.stay_id, uo.charttime, uo.urineoutput,
    CASE WHEN LAG(uo.charttime) OVER w IS NULL THEN epoch(uo.charttime - tm.intime_hr) / 60.0
         ELSE epoch(uo.charttime - LAG(uo.charttime) OVER w) / 60.0 END AS tm_since_last_uo
  FROM icustay_times tm JOIN uo ON tm.stay_id = uo.stay_id
  WINDOW w AS (PARTITION BY tm.stay_id ORDER BY uo.charttime)
)
SELECT io.stay_id, io.charttime, SUM(iosum.urineoutput) AS urineoutput_24hr,
       ROUND(SUM(iosum.tm_since_last_uo) / 60.0, 6) AS uo_tm_24hr
FROM uo_tm io LEFT JOIN uo_tm iosum ON io.stay_id = iosum.stay_id AND io.charttime >= iosum.charttime
  AND io.charttime <= iosum.charttime + INTERVAL 23 HOUR
GROUP BY io.stay_id, io.charttime;

-- norepinephrine / epinephrine / dopamine / dobutamine (rates as charted)
CREATE TABLE vaso AS
SELECT stay_id, itemid, starttime, endtime,
  CASE WHEN itemid IN (221906, 221289) AND rateuom = 'mg/kg/min' THEN rate * 1000.0 ELSE rate END AS vaso_rate
FROM inputevents WHERE itemid IN (221906, 221289, 221662, 221653);

-- icustay_hourly + sofa.sql
CREATE TABLE hourly AS
WITH all_hours AS (
  SELECT stay_id, CASE WHEN date_trunc('hour', intime_hr) = intime_hr THEN intime_hr
                       ELSE date_trunc('hour', intime_hr) + INTERVAL 1 HOUR END AS endtime,
         CAST(CEIL(epoch(outtime_hr - intime_hr) / 3600.0) AS INTEGER) AS maxhr
  FROM icustay_times
)
SELECT a.stay_id, ie.hadm_id, h.hr, a.endtime + h.hr * INTERVAL 1 HOUR AS endtime,
       a.endtime + (h.hr - 1) * INTERVAL 1 HOUR AS starttime
FROM all_hours a JOIN icustays ie USING (stay_id), LATERAL (SELECT UNNEST(range(-24, a.maxhr + 1)) AS hr) h;

CREATE TABLE sofa AS
WITH pafi AS (
  SELECT ie.stay_id, bg.charttime,
    CASE WHEN vd.stay_id IS NULL THEN pao2fio2ratio END AS pao2fio2ratio_novent,
    CASE WHEN vd.stay_id IS NOT NULL THEN pao2fio2ratio END AS pao2fio2ratio_vent
  FROM icustays ie JOIN bg ON ie.subject_id = bg.subject_id
  LEFT JOIN ventilation vd ON ie.stay_id = vd.stay_id AND bg.charttime >= vd.starttime
    AND bg.charttime <= vd.endtime AND vd.ventilation_status = 'InvasiveVent'
  WHERE specimen = 'ART.'
), comp AS (
  SELECT co.stay_id, co.hr, co.endtime,
    (SELECT MIN(vs.mbp) FROM vitalsign vs WHERE vs.stay_id = co.stay_id AND co.starttime < vs.charttime AND co.endtime >= vs.charttime) AS meanbp_min,
    (SELECT MIN(g.gcs) FROM gcs g WHERE g.stay_id = co.stay_id AND co.starttime < g.charttime AND co.endtime >= g.charttime) AS gcs_min,
    (SELECT MAX(l.bilirubin) FROM labs l WHERE l.hadm_id = co.hadm_id AND co.starttime < l.charttime AND co.endtime >= l.charttime) AS bilirubin_max,
    (SELECT MAX(l.creatinine) FROM labs l WHERE l.hadm_id = co.hadm_id AND co.starttime < l.charttime AND co.endtime >= l.charttime) AS creatinine_max,
    (SELECT MIN(l.platelet) FROM labs l WHERE l.hadm_id = co.hadm_id AND co.starttime < l.charttime AND co.endtime >= l.charttime) AS platelet_min,
    (SELECT MIN(p.pao2fio2ratio_novent) FROM pafi p WHERE p.stay_id = co.stay_id AND co.starttime < p.charttime AND co.endtime >= p.charttime) AS pf_novent,
    (SELECT MIN(p.pao2fio2ratio_vent) FROM pafi p WHERE p.stay_id = co.stay_id AND co.starttime < p.charttime AND co.endtime >= p.charttime) AS pf_vent,
    (SELECT MAX(CASE WHEN u.uo_tm_24hr >= 22 AND u.uo_tm_24hr <= 30 THEN u.urineoutput_24hr / u.uo_tm_24hr * 24 END)
       FROM uo_rate u WHERE u.stay_id = co.stay_id AND co.starttime < u.charttime AND co.endtime >= u.charttime) AS uo_24hr,
    (SELECT MAX(CASE WHEN v.itemid = 221289 THEN v.vaso_rate END) FROM vaso v WHERE v.stay_id = co.stay_id AND co.endtime > v.starttime AND co.endtime <= v.endtime) AS rate_epinephrine,
    (SELECT MAX(CASE WHEN v.itemid = 221906 THEN v.vaso_rate END) FROM vaso v WHERE v.stay_id = co.stay_id AND co.endtime > v.starttime AND co.endtime <= v.endtime) AS rate_norepinephrine,
    (SELECT MAX(CASE WHEN v.itemid = 221662 THEN v.vaso_rate END) FROM vaso v WHERE v.stay_id = co.stay_id AND co.endtime > v.starttime AND co.endtime <= v.endtime) AS rate_dopamine,
    (SELECT MAX(CASE WHEN v.itemid = 221653 THEN v.vaso_rate END) FROM vaso v WHERE v.stay_id = co.stay_id AND co.endtime > v.starttime AND co.endtime <= v.endtime) AS rate_dobutamine
  FROM hourly co
), calc AS (
  SELECT *,
    CASE WHEN pf_vent < 100 THEN 4 WHEN pf_vent < 200 THEN 3 WHEN pf_novent < 300 THEN 2 WHEN pf_vent < 300 THEN 2
         WHEN pf_novent < 400 THEN 1 WHEN pf_vent < 400 THEN 1 WHEN COALESCE(pf_vent, pf_novent) IS NULL THEN NULL ELSE 0 END AS respiration,
    CASE WHEN platelet_min < 20 THEN 4 WHEN platelet_min < 50 THEN 3 WHEN platelet_min < 100 THEN 2
         WHEN platelet_min < 150 THEN 1 WHEN platelet_min IS NULL THEN NULL ELSE 0 END AS coagulation,
    CASE WHEN bilirubin_max >= 12.0 THEN 4 WHEN bilirubin_max >= 6.0 THEN 3 WHEN bilirubin_max >= 2.0 THEN 2
         WHEN bilirubin_max >= 1.2 THEN 1 WHEN bilirubin_max IS NULL THEN NULL ELSE 0 END AS liver,
    CASE WHEN rate_dopamine > 15 OR rate_epinephrine > 0.1 OR rate_norepinephrine > 0.1 THEN 4
         WHEN rate_dopamine > 5 OR rate_epinephrine <= 0.1 OR rate_norepinephrine <= 0.1 THEN 3
         WHEN rate_dopamine > 0 OR rate_dobutamine > 0 THEN 2 WHEN meanbp_min < 70 THEN 1
         WHEN COALESCE(meanbp_min, rate_dopamine, rate_dobutamine, rate_epinephrine, rate_norepinephrine) IS NULL THEN NULL
         ELSE 0 END AS cardiovascular,
    CASE WHEN gcs_min >= 13 AND gcs_min <= 14 THEN 1 WHEN gcs_min >= 10 AND gcs_min <= 12 THEN 2
         WHEN gcs_min >= 6 AND gcs_min <= 9 THEN 3 WHEN gcs_min < 6 THEN 4 WHEN gcs_min IS NULL THEN NULL ELSE 0 END AS cns,
    CASE WHEN creatinine_max >= 5.0 THEN 4 WHEN uo_24hr < 200 THEN 4 WHEN creatinine_max >= 3.5 AND creatinine_max < 5.0 THEN 3
         WHEN uo_24hr < 500 THEN 3 WHEN creatinine_max >= 2.0 AND creatinine_max < 3.5 THEN 2
         WHEN creatinine_max >= 1.2 AND creatinine_max < 2.0 THEN 1 WHEN COALESCE(uo_24hr, creatinine_max) IS NULL THEN NULL
         ELSE 0 END AS renal
  FROM comp
)
SELECT stay_id, hr, endtime,
  COALESCE(MAX(respiration) OVER w, 0) + COALESCE(MAX(coagulation) OVER w, 0) + COALESCE(MAX(liver) OVER w, 0)
  + COALESCE(MAX(cardiovascular) OVER w, 0) + COALESCE(MAX(cns) OVER w, 0) + COALESCE(MAX(renal) OVER w, 0) AS sofa_24hours
FROM calc
WINDOW w AS (PARTITION BY stay_id ORDER BY hr ROWS BETWEEN 23 PRECEDING AND 0 FOLLOWING);

-- sepsis3.sql
CREATE TABLE sepsis3 AS
SELECT DISTINCT soi.stay_id
FROM soi JOIN sofa ON soi.stay_id = sofa.stay_id AND sofa.hr >= 0 AND sofa.sofa_24hours >= 2
  AND sofa.endtime >= soi.suspected_infection_time - INTERVAL 48 HOUR
  AND sofa.endtime <= soi.suspected_infection_time + INTERVAL 24 HOUR
WHERE soi.stay_id IS NOT NULL AND soi.suspected_infection = 1;

-- first-day measures
CREATE TABLE firstday AS
SELECT ie.stay_id,
  (SELECT MIN(g.gcs) FROM gcs g WHERE g.stay_id = ie.stay_id AND g.charttime >= ie.intime - INTERVAL 6 HOUR
     AND g.charttime <= ie.intime + INTERVAL 1 DAY) AS gcs_min,
  (SELECT AVG(v.heart_rate) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS heart_rate,
  (SELECT AVG(v.mbp) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS mbp,
  (SELECT MIN(v.mbp) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime - INTERVAL 6 HOUR AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS mbp_min,
  (SELECT AVG(v.resp_rate) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS resp_rate,
  (SELECT AVG(v.temperature) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS temperature,
  (SELECT AVG(v.spo2) FROM vitalsign v WHERE v.stay_id = ie.stay_id AND v.charttime >= ie.intime AND v.charttime <= ie.intime + INTERVAL 1 DAY) AS spo2,
  (SELECT SUM(u.urineoutput) FROM uo u WHERE u.stay_id = ie.stay_id AND u.charttime >= ie.intime AND u.charttime <= ie.intime + INTERVAL 1 DAY) AS urineoutput,
  (SELECT COUNT(*) > 0 FROM ventilation vd WHERE vd.stay_id = ie.stay_id AND vd.ventilation_status = 'InvasiveVent'
     AND vd.starttime <= ie.intime + INTERVAL 1 DAY AND vd.endtime >= ie.intime) AS mechanical_ventilation,
  (SELECT COUNT(*) > 0 FROM inputevents i WHERE i.stay_id = ie.stay_id AND i.itemid IN (221906, 221289, 221662, 221749, 222315)
     AND i.starttime <= ie.intime + INTERVAL 1 DAY AND i.endtime >= ie.intime) AS vasopressor,
  (SELECT COUNT(*) > 0 FROM chartevents c WHERE c.stay_id = ie.stay_id AND c.itemid IN (227290, 224144)
     AND c.charttime >= ie.intime AND c.charttime <= ie.intime + INTERVAL 1 DAY) AS rrt,
  (SELECT MIN(pafi) FROM (SELECT 100 * bg.po2 / bg.fio2 AS pafi FROM bg WHERE bg.subject_id = ie.subject_id AND bg.specimen = 'ART.'
     AND bg.charttime >= ie.intime - INTERVAL 6 HOUR AND bg.charttime <= ie.intime + INTERVAL 1 DAY)) AS pafi_min,
  (SELECT MAX(v.vaso_rate) FROM vaso v WHERE v.stay_id = ie.stay_id AND v.itemid = 221906 AND v.starttime >= ie.intime - INTERVAL 6 HOUR
     AND v.starttime <= ie.intime + INTERVAL 1 DAY) AS rate_ne,
  (SELECT MAX(v.vaso_rate) FROM vaso v WHERE v.stay_id = ie.stay_id AND v.itemid = 221289 AND v.starttime >= ie.intime - INTERVAL 6 HOUR
     AND v.starttime <= ie.intime + INTERVAL 1 DAY) AS rate_epi,
  (SELECT MAX(v.vaso_rate) FROM vaso v WHERE v.stay_id = ie.stay_id AND v.itemid = 221662 AND v.starttime >= ie.intime - INTERVAL 6 HOUR
     AND v.starttime <= ie.intime + INTERVAL 1 DAY) AS rate_dop
FROM icustays ie;

-- exposure
CREATE TABLE exposure AS
SELECT ie.stay_id, MIN(epoch(i.starttime - ie.intime)) / 3600.0 AS first_dose_hours,
       SUM(CASE WHEN i.itemid = 222011 THEN i.amount END) AS grams
FROM icustays ie JOIN inputevents i ON i.stay_id = ie.stay_id AND i.itemid IN (222011, 227523)
  AND i.amount > 0 AND i.starttime >= ie.intime
GROUP BY ie.stay_id;
"""

FIRST_LABS = ("wbc", "hemoglobin", "platelets", "creatinine", "bun", "glucose", "sodium", "potassium",
              "calcium", "magnesium", "bilirubin", "inr", "lactate")
_LAB_ITEM = {"wbc": 51301, "hemoglobin": 51222, "platelets": 51265, "creatinine": 50912, "bun": 51006,
             "glucose": 50931, "sodium": 50983, "potassium": 50971, "calcium": 50893, "magnesium": 50960,
             "bilirubin": 50885, "inr": 51237, "lactate": 50813}


def measure(root: Path) -> pd.DataFrame:
    """One row per ICU stay: every attrition criterion and first-day measure, computed by SQL."""
    con = duckdb.connect()
    _load(con, root)
    abx = " OR ".join(f"lower(pr.drug) LIKE '%{s}%'" for s in ANTIBIOTIC_STEMS)
    con.execute(CONCEPTS.replace("__ABX__", abx))
    lab_cols = ",\n".join(
        f"(SELECT COUNT(*) FROM labevents l WHERE l.subject_id = ie.subject_id AND l.itemid = {_LAB_ITEM[n]} "
        f"AND l.charttime >= ie.intime - INTERVAL 6 HOUR AND l.charttime <= ie.intime + INTERVAL 1 DAY) AS n_{n},\n"
        f"(SELECT MIN(l.valuenum) FROM labevents l WHERE l.subject_id = ie.subject_id AND l.itemid = {_LAB_ITEM[n]} "
        f"AND l.charttime >= ie.intime - INTERVAL 6 HOUR AND l.charttime <= ie.intime + INTERVAL 1 DAY) AS {n}"
        for n in FIRST_LABS)
    excl = ",\n".join(
        f"EXISTS (SELECT 1 FROM diagnoses_icd d WHERE d.hadm_id = ie.hadm_id AND {_prefix_sql(codes)}) AS excl_{name}"
        for name, codes in EXCLUDE.items())
    q = f"""
    SELECT ie.stay_id, ie.subject_id, ie.hadm_id, a.age, s.is_first,
      epoch(ie.outtime - ie.intime) > 86400 AS los_ok,
      ie.stay_id IN (SELECT stay_id FROM sepsis3) AS sepsis3,
      EXISTS (SELECT 1 FROM diagnoses_icd d WHERE d.hadm_id = ie.hadm_id AND {_prefix_sql(DELIRIUM)}) AS delirium,
      {excl},
      COALESCE((SELECT MAX(sofa_24hours) FROM sofa WHERE sofa.stay_id = ie.stay_id AND sofa.hr >= 0), 0) AS max_hourly_sofa,
      e.first_dose_hours, e.grams,
      f.*, {lab_cols}
    FROM icustays ie JOIN age a ON a.hadm_id = ie.hadm_id JOIN stays s ON s.stay_id = ie.stay_id
    LEFT JOIN exposure e ON e.stay_id = ie.stay_id
    LEFT JOIN firstday f ON f.stay_id = ie.stay_id
    """
    out = con.execute(q).df()
    return out.loc[:, ~out.columns.duplicated()]


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    root = tmp_path_factory.mktemp("synth_sql") / "mimic"
    generate(root, N_PATIENTS, SEED, progress=None, chart_rows_per_stay=300)
    pop = build_population(N_PATIENTS, SEED, load_params(chart_rows_per_stay=300))
    stays = pop.stays[pop.stays["keep"]].set_index("stay_id")
    m = measure(root).set_index("stay_id")
    return root, m, stays


def test_eligibility_matches_mimic_code_definitions(synth_set):
    root, m, stays = synth_set
    gt = pd.read_csv(root / "ground_truth_stays.csv").set_index("stay_id")
    m = m.loc[gt.index]
    enceph = (m["gcs_min"] < 15) | m["delirium"]
    any_excl = m[[c for c in m.columns if c.startswith("excl_")]].any(axis=1)
    sql_eligible = (m["age"] >= 18) & m["is_first"] & m["los_ok"] & m["sepsis3"] & enceph & ~any_excl
    assert gt["eligible"].sum() > 0
    bad = gt.index[sql_eligible.to_numpy() != gt["eligible"].astype(bool).to_numpy()]
    assert len(bad) == 0, m.loc[bad].T.head(40)


def test_each_step_fails_as_planned(synth_set):
    """Stays built to fail Sepsis-3 fail it; stays built without encephalopathy have GCS 15."""
    root, m, stays = synth_set
    s = stays.loc[m.index]
    candidates = (m["age"] >= 18) & m["is_first"] & m["los_ok"]
    planned_septic = s["mode"] == 0
    assert (m.loc[candidates, "sepsis3"] == planned_septic[candidates]).all()
    normal = s["_physiology"] == 2
    assert (m.loc[normal, "max_hourly_sofa"] == 0).all()
    no_enceph = s["no_enceph"] & candidates
    assert (m.loc[no_enceph, "gcs_min"] == 15).all() and not m.loc[no_enceph, "delirium"].any()


def test_exposure_equals_treated_and_first_dose_window(synth_set):
    """Exposure within 48 h is the baseline decision ``treated``; exposure over the whole stay
    adds the late doses (eligible stays untreated at baseline, first dose 60-144 h), and the
    SQL's first dose is the truth's ``iv_mgso4_first_dose_hours``."""
    root, m, stays = synth_set
    gt = pd.read_csv(root / "ground_truth_stays.csv").set_index("stay_id")
    hours = m.loc[gt.index, "first_dose_hours"]
    assert ((hours < 48).to_numpy() == (gt["treated"] == 1).to_numpy()).all()
    assert hours[gt["treated"] == 1].between(1.0, 20.0).all()            # every treated stay, eligible or not
    late = hours.notna() & (gt["treated"] == 0)
    assert (gt.loc[late, "eligible"] == 1).all() and hours[late].between(60.0, 144.0).all()
    assert (hours.notna() == gt["iv_mgso4_first_dose_hours"].notna()).all()
    np.testing.assert_allclose(hours.dropna().to_numpy(), gt["iv_mgso4_first_dose_hours"].dropna().to_numpy(),
                               atol=1e-6)


def test_first_day_covariates_are_measured_exactly(synth_set):
    root, m, stays = synth_set
    el = stays.index[stays["eligible"]]
    mm, ss = m.loc[el], stays.loc[el]
    for lab in FIRST_LABS:
        assert (mm[f"n_{lab}"] == 1).all(), lab
        np.testing.assert_allclose(mm[lab].to_numpy(), ss[lab].to_numpy(), rtol=0, atol=1e-9, err_msg=lab)
    for col in ("heart_rate", "mbp", "resp_rate", "temperature", "spo2"):
        np.testing.assert_allclose(mm[col].to_numpy(), ss[col].to_numpy(), atol=1e-6, err_msg=col)
    assert (mm["gcs_min"].to_numpy() == ss["gcs_min"].to_numpy()).all()
    assert (mm["mbp_min"].to_numpy() == ss["_map_min"].to_numpy()).all()
    assert (mm["urineoutput"].to_numpy() == ss["_uo_day1"].to_numpy()).all()
    for col in ("mechanical_ventilation", "vasopressor", "rrt"):
        assert (mm[col].astype(int).to_numpy() == ss[col].to_numpy()).all(), col
    np.testing.assert_allclose(mm["pafi_min"].to_numpy(), ss["_pafi"].to_numpy(), atol=1e-9)
    ne = ss["_vaso_agent"] == 1
    np.testing.assert_allclose(mm.loc[ne, "rate_ne"].to_numpy(), ss.loc[ne, "_vaso_rate"].to_numpy(), atol=1e-12)
    # age as the SQL computes it
    assert (mm["age"].to_numpy() == ss["age"].to_numpy()).all()
