-- study.stay_eligibility: one row per ICU stay with what the study's criteria read directly
-- (icu_cohort.criteria: age, first_icu_stay, icu_los, first_careunit; the other kinds read
-- their own tables through the stay_id / hadm_id of this row). study.final_stay and
-- attrition.csv are both generated from the study's ordered criteria over these rows
-- (icu_cohort.cohort):
--   age                         years at hospital admission (mimiciv_derived.age); NULL if unknown
--   icu_stay_rank               1 for the patient's earliest ICU stay (by intime, then stay_id,
--                               among ALL the patient's ICU stays), 2 for the next, ...
--   icu_stay_rank_in_admission  the same within the hospital admission
--   icu_los_hours               outtime - intime in hours
--   first_careunit              icustays.first_careunit
-- Source: MIMIC-IV icu.icustays; mimic-code demographics/age.sql.
SELECT
    ie.subject_id
    , ie.hadm_id
    , ie.stay_id
    , ie.intime
    , ie.outtime
    , ag.age
    , ROW_NUMBER() OVER (PARTITION BY ie.subject_id ORDER BY ie.intime, ie.stay_id) AS icu_stay_rank
    , ROW_NUMBER() OVER (PARTITION BY ie.hadm_id ORDER BY ie.intime, ie.stay_id) AS icu_stay_rank_in_admission
    , date_diff('second', ie.intime, ie.outtime) / 3600.0 AS icu_los_hours
    , ie.first_careunit
FROM mimiciv_icu.icustays AS ie
LEFT JOIN mimiciv_derived.age AS ag
    ON ie.hadm_id = ag.hadm_id
