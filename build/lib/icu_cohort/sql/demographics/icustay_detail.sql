-- mimiciv_derived.icustay_detail: one row per ICU stay with patient, admission and stay
-- level facts (sex, date of death, hospital and ICU times, admission age, race, ordinal
-- of the hospital admission and of the ICU stay within the admission).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/demographics/icustay_detail.sql
-- (MIMIC-IV v2.x renamed admissions.ethnicity to race; the column is race here).
-- Note: icustay_seq / first_icu_stay count stays within the hospital admission, as in
-- mimic-code; the study's "first ICU stay of the patient" is computed in
-- sql/cohort/stay_eligibility.sql.
SELECT
    ie.subject_id
    , ie.hadm_id
    , ie.stay_id
    -- patient level factors
    , pat.gender
    , pat.dod
    -- hospital level factors
    , adm.admittime
    , adm.dischtime
    , date_diff('day', adm.admittime, adm.dischtime) AS los_hospital
    , pat.anchor_age + (year(adm.admittime) - pat.anchor_year) AS admission_age
    , adm.race
    , adm.hospital_expire_flag
    , DENSE_RANK() OVER (PARTITION BY adm.subject_id ORDER BY adm.admittime) AS hospstay_seq
    , DENSE_RANK() OVER (PARTITION BY adm.subject_id ORDER BY adm.admittime) = 1 AS first_hosp_stay
    -- icu level factors
    , ie.intime AS icu_intime
    , ie.outtime AS icu_outtime
    , ROUND(date_diff('hour', ie.intime, ie.outtime) / 24.0, 2) AS los_icu
    , DENSE_RANK() OVER (PARTITION BY ie.hadm_id ORDER BY ie.intime) AS icustay_seq
    , DENSE_RANK() OVER (PARTITION BY ie.hadm_id ORDER BY ie.intime) = 1 AS first_icu_stay
FROM mimiciv_icu.icustays AS ie
INNER JOIN mimiciv_hosp.admissions AS adm
    ON ie.hadm_id = adm.hadm_id
INNER JOIN mimiciv_hosp.patients AS pat
    ON ie.subject_id = pat.subject_id
