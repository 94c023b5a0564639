-- study.stay_eligibility: one row per ICU stay with the inclusion criteria of the study,
-- each as a boolean (NULL data count as not met). The study's ordered criteria
-- (icu_cohort.study.Study.criteria) read these columns; study.final_stay and attrition.csv
-- are both generated from that list (icu_cohort.cohort):
--   adult          age at hospital admission (mimiciv_derived.age) >= ${min_age}
--   first_icu_stay the patient's earliest ICU stay (by intime, then stay_id, among ALL the
--                  patient's ICU stays)
--   icu_los_ok     outtime - intime > ${min_icu_los_hours} hours
--   sepsis3        a row in study.sepsis3 (Sepsis-3 in the ICU, with the study's window)
--   encephalopathy lowest first-day GCS (mimiciv_derived.first_day_gcs) < ${gcs_below}, or a
--                  delirium code (study.admission_icd_group, kind 'delirium') on the admission,
--                  or (when the study sets a window: ${delirium_cam_icu_hours} h) a positive
--                  CAM-ICU (mimiciv_derived.cam_icu) charted in [intime, intime + that window]
-- Sources: study file (cohort section); Sepsis-3: Singer M et al., JAMA 2016; SAE:
-- Sonneville R et al., Intensive Care Med 2017 (GCS < 15 or delirium).
WITH ranked AS (
    SELECT
        stay_id
        , ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY intime, stay_id) AS icu_stay_rank
    FROM mimiciv_icu.icustays
)

, delirium AS (
    SELECT DISTINCT hadm_id
    FROM study.admission_icd_group
    WHERE kind = 'delirium'
)

, cam_icu AS (
    SELECT DISTINCT c.stay_id
    FROM mimiciv_derived.cam_icu AS c
    INNER JOIN mimiciv_icu.icustays AS ie
        ON c.stay_id = ie.stay_id
    WHERE ${delirium_cam_icu_hours} IS NOT NULL
        AND c.cam_icu_positive = 1
        AND c.charttime >= ie.intime
        AND c.charttime <= ie.intime + to_seconds(${delirium_cam_icu_hours} * 3600.0)
)

, sepsis AS (
    SELECT DISTINCT stay_id
    FROM study.sepsis3
    WHERE sepsis3
)

SELECT
    ie.subject_id
    , ie.hadm_id
    , ie.stay_id
    , ie.intime
    , ie.outtime
    , ag.age
    , r.icu_stay_rank
    , date_diff('second', ie.intime, ie.outtime) / 3600.0 AS icu_los_hours
    , g.gcs_min
    , dl.hadm_id IS NOT NULL AS delirium_icd
    , COALESCE(ag.age >= ${min_age}, FALSE) AS adult
    , r.icu_stay_rank = 1 AS first_icu_stay
    , COALESCE(date_diff('second', ie.intime, ie.outtime) > ${min_icu_los_hours} * 3600.0, FALSE) AS icu_los_ok
    , s.stay_id IS NOT NULL AS sepsis3
    , cam.stay_id IS NOT NULL AS delirium_cam_icu
    , COALESCE(g.gcs_min < ${gcs_below}, FALSE) OR dl.hadm_id IS NOT NULL OR cam.stay_id IS NOT NULL AS encephalopathy
FROM mimiciv_icu.icustays AS ie
INNER JOIN ranked AS r
    ON ie.stay_id = r.stay_id
LEFT JOIN mimiciv_derived.age AS ag
    ON ie.hadm_id = ag.hadm_id
LEFT JOIN mimiciv_derived.first_day_gcs AS g
    ON ie.stay_id = g.stay_id
LEFT JOIN delirium AS dl
    ON ie.hadm_id = dl.hadm_id
LEFT JOIN sepsis AS s
    ON ie.stay_id = s.stay_id
LEFT JOIN cam_icu AS cam
    ON ie.stay_id = cam.stay_id
