-- mimiciv_derived.first_day_vitalsign: minimum, maximum and mean of each vital sign
-- (mimiciv_derived.vitalsign) charted in [intime - 6 h, intime + 24 h], per ICU stay.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/firstday/first_day_vitalsign.sql.
-- Each mean sums its values in ascending order (AVG(x ORDER BY x)), so its last bits do not
-- depend on the order DuckDB's threads deliver the rows in (the same value as mimic-code's AVG
-- otherwise); the other engines' exports drop the ORDER BY (icu_cohort.export_sql).
SELECT
    ie.subject_id
    , ie.stay_id
    , MIN(heart_rate) AS heart_rate_min
    , MAX(heart_rate) AS heart_rate_max
    , AVG(heart_rate ORDER BY heart_rate) AS heart_rate_mean
    , MIN(sbp) AS sbp_min
    , MAX(sbp) AS sbp_max
    , AVG(sbp ORDER BY sbp) AS sbp_mean
    , MIN(dbp) AS dbp_min
    , MAX(dbp) AS dbp_max
    , AVG(dbp ORDER BY dbp) AS dbp_mean
    , MIN(mbp) AS mbp_min
    , MAX(mbp) AS mbp_max
    , AVG(mbp ORDER BY mbp) AS mbp_mean
    , MIN(resp_rate) AS resp_rate_min
    , MAX(resp_rate) AS resp_rate_max
    , AVG(resp_rate ORDER BY resp_rate) AS resp_rate_mean
    , MIN(temperature) AS temperature_min
    , MAX(temperature) AS temperature_max
    , AVG(temperature ORDER BY temperature) AS temperature_mean
    , MIN(spo2) AS spo2_min
    , MAX(spo2) AS spo2_max
    , AVG(spo2 ORDER BY spo2) AS spo2_mean
    , MIN(glucose) AS glucose_min
    , MAX(glucose) AS glucose_max
    , AVG(glucose ORDER BY glucose) AS glucose_mean
FROM mimiciv_icu.icustays AS ie
LEFT JOIN mimiciv_derived.vitalsign AS ce
    ON ie.stay_id = ce.stay_id
        AND ce.charttime >= ie.intime - INTERVAL 6 HOUR
        AND ce.charttime <= ie.intime + INTERVAL 1 DAY
GROUP BY ie.subject_id, ie.stay_id
