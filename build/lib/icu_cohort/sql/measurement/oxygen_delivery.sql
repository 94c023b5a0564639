-- mimiciv_derived.oxygen_delivery: oxygen therapy per patient and charttime: O2 flow
-- (223834, with BiPAP O2 flow 227582 merged into it; the last stored, then highest, value at
-- a charttime), additional O2 flow (227287) and up to four O2 delivery devices (226732).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/oxygen_delivery.sql.
-- Deviation, on purpose: mimic-code combines flows and devices with a FULL OUTER JOIN
-- followed by WHERE ce.rn = 1, which drops the charttimes where only a device was charted;
-- here flows and devices are stacked (UNION ALL) and pivoted, so a device charted alone
-- (e.g. 'Endotracheal tube') is kept, as the comments in mimic-code intend.
WITH flow_stg AS (
    SELECT
        ce.subject_id
        , ce.stay_id
        , ce.charttime
        , CASE WHEN ce.itemid IN (223834, 227582) THEN 223834 ELSE ce.itemid END AS itemid
        , ce.valuenum
        , ce.storetime
    FROM stage.chartevents AS ce
    WHERE ce.value IS NOT NULL
        AND ce.itemid IN (
            223834  -- O2 flow
            , 227582  -- BiPAP O2 flow
            , 227287  -- additional O2 flow
        )
)

, flow AS (
    SELECT
        subject_id
        , stay_id
        , charttime
        , itemid
        , valuenum
        , ROW_NUMBER() OVER (
            PARTITION BY subject_id, charttime, itemid
            ORDER BY storetime DESC NULLS LAST, valuenum DESC NULLS LAST
        ) AS rn
    FROM flow_stg
)

, device AS (
    SELECT
        subject_id
        , stay_id
        , charttime
        , value AS o2_device
        , ROW_NUMBER() OVER (
            PARTITION BY subject_id, charttime
            ORDER BY storetime DESC NULLS LAST, value DESC NULLS LAST
        ) AS rn
    FROM stage.chartevents
    WHERE itemid = 226732  -- O2 delivery device(s)
)

, stg AS (
    SELECT subject_id, stay_id, charttime, itemid, valuenum, NULL::VARCHAR AS o2_device, rn
    FROM flow
    WHERE rn = 1
    UNION ALL
    SELECT subject_id, stay_id, charttime, 226732 AS itemid, NULL::DOUBLE AS valuenum, o2_device, rn
    FROM device
)

SELECT
    subject_id
    , MAX(stay_id) AS stay_id
    , charttime
    , MAX(CASE WHEN itemid = 223834 THEN valuenum END) AS o2_flow
    , MAX(CASE WHEN itemid = 227287 THEN valuenum END) AS o2_flow_additional
    , MAX(CASE WHEN itemid = 226732 AND rn = 1 THEN o2_device END) AS o2_delivery_device_1
    , MAX(CASE WHEN itemid = 226732 AND rn = 2 THEN o2_device END) AS o2_delivery_device_2
    , MAX(CASE WHEN itemid = 226732 AND rn = 3 THEN o2_device END) AS o2_delivery_device_3
    , MAX(CASE WHEN itemid = 226732 AND rn = 4 THEN o2_device END) AS o2_delivery_device_4
FROM stg
GROUP BY subject_id, charttime
