-- mimiciv_derived.weight_durations: body weight (kg) with the interval [starttime, endtime)
-- over which it applies, per ICU stay. The first admission weight applies from 2 h before
-- ICU admission; each weight lasts until the next one, the last until 2 h after discharge;
-- a stay whose first weight is charted after intime gets that weight back-filled to
-- intime - 2 h.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/demographics/weight_durations.sql
-- (itemids 226512 admission weight, 224639 daily weight; 0 < weight < 1500).
WITH wt_stg AS (
    SELECT
        c.stay_id
        , c.charttime
        , CASE WHEN c.itemid = 226512 THEN 'admit' ELSE 'daily' END AS weight_type
        , ROUND(c.valuenum, 3) AS weight
    FROM stage.chartevents AS c
    WHERE c.valuenum IS NOT NULL
        AND c.itemid IN (226512, 224639)
        AND c.valuenum > 0
        AND c.valuenum < 1500
        AND c.stay_id IS NOT NULL
)

, wt_stg1 AS (
    SELECT
        stay_id
        , charttime
        , weight_type
        , weight
        , ROW_NUMBER() OVER (PARTITION BY stay_id, weight_type ORDER BY charttime, weight) AS rn
    FROM wt_stg
    WHERE weight IS NOT NULL
)

-- the first admission weight starts 2 hours before ICU admission
, wt_stg2 AS (
    SELECT
        w.stay_id
        , ie.intime
        , ie.outtime
        , w.weight_type
        , CASE
            WHEN w.weight_type = 'admit' AND w.rn = 1 THEN ie.intime - INTERVAL 2 HOUR
            ELSE w.charttime
        END AS starttime
        , w.weight
    FROM wt_stg1 AS w
    INNER JOIN mimiciv_icu.icustays AS ie
        ON ie.stay_id = w.stay_id
)

, wt1 AS (
    SELECT
        stay_id
        , starttime
        , COALESCE(
            LEAD(starttime) OVER (PARTITION BY stay_id ORDER BY starttime, weight)
            , outtime + INTERVAL 2 HOUR
        ) AS endtime
        , weight
        , weight_type
    FROM wt_stg2
)

-- back-fill the first weight when it was charted after ICU admission
, wt_fix AS (
    SELECT
        ie.stay_id
        , ie.intime - INTERVAL 2 HOUR AS starttime
        , wt.starttime AS endtime
        , wt.weight
        , wt.weight_type
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN (
        SELECT
            stay_id
            , starttime
            , weight
            , weight_type
            , ROW_NUMBER() OVER (PARTITION BY stay_id ORDER BY starttime, weight) AS rn
        FROM wt1
    ) AS wt
        ON ie.stay_id = wt.stay_id
            AND wt.rn = 1
            AND ie.intime < wt.starttime
)

SELECT stay_id, starttime, endtime, weight, weight_type
FROM wt1
UNION ALL
SELECT stay_id, starttime, endtime, weight, weight_type
FROM wt_fix
