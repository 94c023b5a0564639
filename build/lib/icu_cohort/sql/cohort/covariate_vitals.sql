-- study.covariate_vitals: per stay of the final cohort, the mean of each vital sign
-- (mimiciv_derived.vitalsign: heart_rate, mbp, resp_rate, temperature in deg C, spo2)
-- charted in [intime + ${vitals_window_start_hours} h, intime + ${vitals_window_end_hours} h]; NULL when none.
-- Each mean sums its values in charting order, so that the result does not depend on the
-- order in which parallel threads see the rows (the same data give the same bits).
-- Source: study file (covariates.vitals_window_hours); mimic-code measurement/vitalsign.sql.
SELECT
    f.stay_id
    , AVG(v.heart_rate ORDER BY v.charttime, v.heart_rate) AS heart_rate
    , AVG(v.mbp ORDER BY v.charttime, v.mbp) AS mbp
    , AVG(v.resp_rate ORDER BY v.charttime, v.resp_rate) AS resp_rate
    , CAST(AVG(v.temperature ORDER BY v.charttime, v.temperature) AS DOUBLE) AS temperature
    , AVG(v.spo2 ORDER BY v.charttime, v.spo2) AS spo2
FROM study.final_stay AS f
LEFT JOIN mimiciv_derived.vitalsign AS v
    ON f.stay_id = v.stay_id
        AND v.charttime >= f.intime + to_seconds(${vitals_window_start_hours} * 3600.0)
        AND v.charttime <= f.intime + to_seconds(${vitals_window_end_hours} * 3600.0)
GROUP BY f.stay_id
