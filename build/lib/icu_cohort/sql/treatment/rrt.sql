-- mimiciv_derived.rrt: renal replacement therapy (dialysis) documentation per ICU stay and
-- time: dialysis_present (any dialysis documentation), dialysis_active (dialysis running)
-- and dialysis_type (CRRT mode, CVVH/CVVHD/CVVHDF/SCUF, IHD, Peritoneal) where known.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/treatment/rrt.sql (MetaVision chartevents
-- itemids; CRRT-only medications 227536 KCl (CRRT) and 227525 calcium gluconate (CRRT) in
-- inputevents; dialysis procedures in procedureevents).
WITH ce AS (
    SELECT
        ce.stay_id
        , ce.charttime
        , CASE
            WHEN ce.itemid IN (
                -- checkboxes
                226118  -- dialysis catheter placed in outside facility
                , 227357  -- dialysis catheter dressing occlusive
                , 225725  -- dialysis catheter tip cultured
                -- numeric data
                , 226499, 224154, 225810, 225959, 227639, 225183, 227438, 224191, 225806
                , 225807, 228004, 228005, 228006, 224144, 224145, 224149, 224150, 224151
                , 224152, 224153, 224404, 224406, 226457
                -- text fields
                , 224135, 224139, 224146, 225323, 225740, 225776, 225951, 225952, 225953
                , 225954, 225956, 225958, 225961, 225963, 225965, 225976, 225977, 227124
                , 227290, 227638, 227640, 227753
            ) THEN 1
            ELSE 0
        END AS dialysis_present
        , CASE
            WHEN ce.itemid = 225965 AND ce.value = 'In use' THEN 1  -- PD catheter status
            WHEN ce.itemid IN (
                226499  -- hemodialysis output
                , 224154  -- dialysate rate
                , 225183  -- current goal
                , 227438  -- volume not removed
                , 224191  -- hourly patient fluid removal
                , 225806  -- volume in (PD)
                , 225807  -- volume out (PD)
                , 228004  -- citrate (ACD-A)
                , 228005  -- PBP (prefilter) replacement rate
                , 228006  -- post filter replacement rate
                , 224144  -- blood flow (ml/min)
                , 224145  -- heparin dose (per hour)
                , 224153  -- replacement rate
                , 226457  -- ultrafiltrate output
            ) THEN 1
            ELSE 0
        END AS dialysis_active
        , CASE
            WHEN ce.itemid = 227290 THEN ce.value  -- CRRT mode
            WHEN ce.itemid IN (
                225810, 225806, 225807, 227639, 225959, 225951, 225952, 225961, 225953
                , 225963, 225965, 227638, 227640
            ) THEN 'Peritoneal'
            WHEN ce.itemid = 226499 THEN 'IHD'
        END AS dialysis_type
    FROM stage.chartevents AS ce
    WHERE ce.itemid IN (
        226118, 227357, 225725
        , 226499, 224154, 225810, 227639, 225183, 227438, 224191, 225806, 225807, 228004
        , 228005, 228006, 224144, 224145, 224149, 224150, 224151, 224152, 224153, 224404
        , 224406, 226457, 225959
        , 224135, 224139, 224146, 225323, 225740, 225776, 225951, 225952, 225953, 225954
        , 225956, 225958, 225961, 225963, 225965, 225976, 225977, 227124, 227290, 227638
        , 227640, 227753
    )
        AND ce.value IS NOT NULL
)

, mv_ranges AS (
    SELECT
        stay_id
        , starttime
        , endtime
        , 1 AS dialysis_present
        , 1 AS dialysis_active
        , 'CRRT' AS dialysis_type
    FROM mimiciv_icu.inputevents
    WHERE itemid IN (
        227536  -- KCl (CRRT)
        , 227525  -- calcium gluconate (CRRT)
    )
        AND amount > 0
    UNION
    SELECT
        stay_id
        , starttime
        , endtime
        , 1 AS dialysis_present
        , CASE WHEN itemid NOT IN (224270, 225436) THEN 1 ELSE 0 END AS dialysis_active
        , CASE
            WHEN itemid = 225441 THEN 'IHD'
            WHEN itemid = 225802 THEN 'CRRT'  -- CVVH
            WHEN itemid = 225803 THEN 'CVVHD'
            WHEN itemid = 225805 THEN 'Peritoneal'
            WHEN itemid = 225809 THEN 'CVVHDF'
            WHEN itemid = 225955 THEN 'SCUF'
        END AS dialysis_type
    FROM mimiciv_icu.procedureevents
    WHERE itemid IN (
        225441  -- hemodialysis
        , 225802  -- dialysis - CRRT
        , 225803  -- dialysis - CVVHD
        , 225805  -- peritoneal dialysis
        , 224270  -- dialysis catheter
        , 225809  -- dialysis - CVVHDF
        , 225955  -- dialysis - SCUF
        , 225436  -- CRRT filter change
    )
        AND value IS NOT NULL
)

, stg0 AS (
    SELECT stay_id, charttime, dialysis_present, dialysis_active, dialysis_type
    FROM ce
    WHERE dialysis_present = 1
    UNION
    SELECT stay_id, starttime AS charttime, dialysis_present, dialysis_active, dialysis_type
    FROM mv_ranges
)

SELECT
    stg0.stay_id
    , stg0.charttime
    , COALESCE(mv.dialysis_present, stg0.dialysis_present) AS dialysis_present
    , COALESCE(mv.dialysis_active, stg0.dialysis_active) AS dialysis_active
    , COALESCE(mv.dialysis_type, stg0.dialysis_type) AS dialysis_type
FROM stg0
LEFT JOIN mv_ranges AS mv
    ON stg0.stay_id = mv.stay_id
        AND stg0.charttime >= mv.starttime
        AND stg0.charttime <= mv.endtime
