-- mimiciv_derived.icustay_times: first and last charted heart rate of each ICU stay, a
-- "fuzzy" ICU admission/discharge time used as the clock of the hourly SOFA.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/demographics/icustay_times.sql
-- (heart rate itemid 220045).
WITH hr AS (
    SELECT
        ce.stay_id
        , MIN(ce.charttime) AS intime_hr
        , MAX(ce.charttime) AS outtime_hr
    FROM stage.chartevents AS ce
    WHERE ce.itemid = 220045
    GROUP BY ce.stay_id
)

SELECT
    ie.subject_id
    , ie.hadm_id
    , ie.stay_id
    , hr.intime_hr
    , hr.outtime_hr
FROM mimiciv_icu.icustays AS ie
LEFT JOIN hr
    ON ie.stay_id = hr.stay_id
