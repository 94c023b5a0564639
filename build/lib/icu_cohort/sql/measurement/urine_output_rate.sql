-- mimiciv_derived.urine_output_rate: at each urine output charting, the urine output over
-- the preceding 6, 12 and 24 hours, the hours those volumes cover, and the rates in
-- mL/kg/h (weight from mimiciv_derived.weight_durations).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/urine_output_rate.sql.
-- As there, each charting is assumed to hold the urine since the previous one (the first
-- one: since the first charted heart rate, itemid 220045, within a month of the stay), and
-- the 6/12/24-hour sums take the chartings at most 5/11/23 hours before the current one.
-- mimic-code's self-join over the previous 24 hours is written as window functions with
-- RANGE frames here (same rows, no quadratic join).
WITH tm AS (
    SELECT
        ie.stay_id
        , MIN(ce.charttime) AS intime_hr
        , MAX(ce.charttime) AS outtime_hr
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN stage.chartevents AS ce
        ON ie.stay_id = ce.stay_id
            AND ce.itemid = 220045
            AND ce.charttime > ie.intime - INTERVAL 1 MONTH
            AND ce.charttime < ie.outtime + INTERVAL 1 MONTH
    GROUP BY ie.stay_id
)

, uo_tm AS (
    SELECT
        tm.stay_id
        , uo.charttime
        , uo.urineoutput
        , date_diff('second', COALESCE(LAG(uo.charttime) OVER w, tm.intime_hr), uo.charttime) / 60.0
            AS tm_since_last_uo
    FROM tm
    INNER JOIN mimiciv_derived.urine_output AS uo
        ON tm.stay_id = uo.stay_id
    WINDOW w AS (PARTITION BY tm.stay_id ORDER BY uo.charttime)
)

, ur_stg AS (
    SELECT
        stay_id
        , charttime
        , urineoutput AS uo
        , SUM(urineoutput) OVER w6 AS urineoutput_6hr
        , ROUND(SUM(tm_since_last_uo) OVER w6 / 60.0, 6) AS uo_tm_6hr
        , SUM(urineoutput) OVER w12 AS urineoutput_12hr
        , ROUND(SUM(tm_since_last_uo) OVER w12 / 60.0, 6) AS uo_tm_12hr
        , SUM(urineoutput) OVER w24 AS urineoutput_24hr
        , ROUND(SUM(tm_since_last_uo) OVER w24 / 60.0, 6) AS uo_tm_24hr
    FROM uo_tm
    WINDOW
        w6 AS (PARTITION BY stay_id ORDER BY charttime RANGE BETWEEN INTERVAL 5 HOUR PRECEDING AND CURRENT ROW)
        , w12 AS (PARTITION BY stay_id ORDER BY charttime RANGE BETWEEN INTERVAL 11 HOUR PRECEDING AND CURRENT ROW)
        , w24 AS (PARTITION BY stay_id ORDER BY charttime RANGE BETWEEN INTERVAL 23 HOUR PRECEDING AND CURRENT ROW)
)

SELECT
    ur.stay_id
    , ur.charttime
    , wd.weight
    , ur.uo
    , ur.urineoutput_6hr
    , ur.urineoutput_12hr
    , ur.urineoutput_24hr
    , CASE WHEN ur.uo_tm_6hr >= 6 THEN ROUND(ur.urineoutput_6hr / wd.weight / ur.uo_tm_6hr, 4) END
        AS uo_mlkghr_6hr
    , CASE WHEN ur.uo_tm_12hr >= 12 THEN ROUND(ur.urineoutput_12hr / wd.weight / ur.uo_tm_12hr, 4) END
        AS uo_mlkghr_12hr
    , CASE WHEN ur.uo_tm_24hr >= 24 THEN ROUND(ur.urineoutput_24hr / wd.weight / ur.uo_tm_24hr, 4) END
        AS uo_mlkghr_24hr
    , ROUND(ur.uo_tm_6hr, 2) AS uo_tm_6hr
    , ROUND(ur.uo_tm_12hr, 2) AS uo_tm_12hr
    , ROUND(ur.uo_tm_24hr, 2) AS uo_tm_24hr
FROM ur_stg AS ur
LEFT JOIN mimiciv_derived.weight_durations AS wd
    ON ur.stay_id = wd.stay_id
        AND ur.charttime > wd.starttime
        AND ur.charttime <= wd.endtime
        AND wd.weight > 0
