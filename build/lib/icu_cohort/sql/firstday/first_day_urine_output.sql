-- mimiciv_derived.first_day_urine_output: total urine output (mL) charted in
-- [intime, intime + 24 h] per ICU stay (NULL when none was charted).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/firstday/first_day_urine_output.sql.
SELECT
    ie.subject_id
    , ie.stay_id
    , SUM(uo.urineoutput) AS urineoutput
FROM mimiciv_icu.icustays AS ie
LEFT JOIN mimiciv_derived.urine_output AS uo
    ON ie.stay_id = uo.stay_id
        AND uo.charttime >= ie.intime
        AND uo.charttime <= ie.intime + INTERVAL 1 DAY
GROUP BY ie.subject_id, ie.stay_id
