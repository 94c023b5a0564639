-- mimiciv_derived.first_day_rrt: whether dialysis was documented (dialysis_present) or
-- running (dialysis_active) in [intime - 6 h, intime + 24 h], and the dialysis types seen,
-- per ICU stay (mimiciv_derived.rrt).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/firstday/first_day_rrt.sql.
SELECT
    ie.subject_id
    , ie.stay_id
    , MAX(rrt.dialysis_present) AS dialysis_present
    , MAX(rrt.dialysis_active) AS dialysis_active
    , string_agg(DISTINCT rrt.dialysis_type, ', ' ORDER BY rrt.dialysis_type) AS dialysis_type
FROM mimiciv_icu.icustays AS ie
LEFT JOIN mimiciv_derived.rrt AS rrt
    ON ie.stay_id = rrt.stay_id
        AND rrt.charttime >= ie.intime - INTERVAL 6 HOUR
        AND rrt.charttime <= ie.intime + INTERVAL 1 DAY
GROUP BY ie.subject_id, ie.stay_id
