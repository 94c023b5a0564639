-- mimiciv_derived.first_day_weight: admission weight (mean of the 'admit' weights) and the
-- mean, minimum and maximum of all weights starting before the end of the first ICU day
-- (mimiciv_derived.weight_durations, starttime <= intime + 24 h), in kg, per ICU stay.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/firstday/first_day_weight.sql.
-- Each mean sums its values in ascending order (AVG(x ORDER BY x)), so its last bits do not
-- depend on the order DuckDB's threads deliver the rows in (the same value as mimic-code's AVG
-- otherwise); the other engines' exports drop the ORDER BY (icu_cohort.export_sql).
SELECT
    ie.subject_id
    , ie.stay_id
    , AVG(CASE WHEN ce.weight_type = 'admit' THEN ce.weight END
        ORDER BY CASE WHEN ce.weight_type = 'admit' THEN ce.weight END) AS weight_admit
    , AVG(ce.weight ORDER BY ce.weight) AS weight
    , MIN(ce.weight) AS weight_min
    , MAX(ce.weight) AS weight_max
FROM mimiciv_icu.icustays AS ie
LEFT JOIN mimiciv_derived.weight_durations AS ce
    ON ie.stay_id = ce.stay_id
        AND ce.starttime <= ie.intime + INTERVAL 1 DAY
GROUP BY ie.subject_id, ie.stay_id
