-- mimiciv_derived.urine_output: urine output (mL) per ICU stay and charttime, summed over
-- the urine itemids of icu.outputevents; GU irrigant volume in (227488) counts negative.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/urine_output.sql.
WITH uo AS (
    SELECT
        oe.stay_id
        , oe.charttime
        , CASE WHEN oe.itemid = 227488 AND oe.value > 0 THEN -1 * oe.value ELSE oe.value END AS urineoutput
    FROM mimiciv_icu.outputevents AS oe
    WHERE oe.itemid IN (
        226559  -- Foley
        , 226560  -- Void
        , 226561  -- Condom Cath
        , 226584  -- Ileoconduit
        , 226563  -- Suprapubic
        , 226564  -- R Nephrostomy
        , 226565  -- L Nephrostomy
        , 226567  -- Straight Cath
        , 226557  -- R Ureteral Stent
        , 226558  -- L Ureteral Stent
        , 227488  -- GU Irrigant Volume In
        , 227489  -- GU Irrigant/Urine Volume Out
    )
)

SELECT stay_id, charttime, SUM(urineoutput) AS urineoutput
FROM uo
GROUP BY stay_id, charttime
