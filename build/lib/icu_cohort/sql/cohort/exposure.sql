-- study.exposure: the exposure of every ICU stay: treated = 1 when icu.inputevents holds a
-- row of the exposure drug (itemids ${exposure_itemids}) for the stay with amount > 0 and
-- starttime in [intime + ${exposure_window_start_hours} h, intime + ${exposure_window_end_hours} h)
-- (an end of NULL: no upper bound, i.e. the whole ICU stay); statusdescription in
-- (${exposure_excluded_statuses}) does not count. Only icu.inputevents is read: oral
-- magnesium (hosp.prescriptions) never counts.
--   first_dose_hours  hours from intime to the earliest counted starttime
--   total_dose_g      grams over the counted rows: per order (orderid), the rows documented
--                     in grams (or mg / 1000); an order documented only as a volume (mL,
--                     e.g. 227523 "Magnesium Sulfate (Bolus)" alone) counts volume x
--                     ${exposure_grams_per_ml} g/mL. An order with both a gram row (222011) and
--                     a mL row (227523) counts the grams once.
-- NULL first_dose_hours / total_dose_g when untreated.
-- Source: study file (exposure section); MIMIC-IV inputevents documentation (orderid groups
-- the components of one order); Gu W-J et al., Br J Anaesth 2023 (IV MgSO4 in the ICU).
WITH dose_row AS (
    SELECT
        ie.stay_id
        , COALESCE(CAST(inp.orderid AS VARCHAR), 'row-' || CAST(ROW_NUMBER() OVER () AS VARCHAR)) AS order_key
        , date_diff('second', ie.intime, inp.starttime) / 3600.0 AS hours_from_intime
        , CASE
            WHEN lower(inp.amountuom) IN ('grams', 'gram', 'g', 'gm') THEN inp.amount
            WHEN lower(inp.amountuom) = 'mg' THEN inp.amount / 1000.0
        END AS grams
        , CASE WHEN lower(inp.amountuom) = 'ml' THEN inp.amount END AS ml
    FROM mimiciv_icu.inputevents AS inp
    INNER JOIN mimiciv_icu.icustays AS ie
        ON inp.stay_id = ie.stay_id
    WHERE inp.itemid IN (${exposure_itemids})
        AND inp.amount > 0
        AND NOT COALESCE(inp.statusdescription IN (${exposure_excluded_statuses}), FALSE)
)

, counted AS (
    SELECT *
    FROM dose_row
    WHERE hours_from_intime >= ${exposure_window_start_hours}
        AND (${exposure_window_end_hours} IS NULL OR hours_from_intime < ${exposure_window_end_hours})
)

, per_order AS (
    SELECT
        stay_id
        , order_key
        , MIN(hours_from_intime) AS first_hours
        , COALESCE(SUM(grams), SUM(ml) * ${exposure_grams_per_ml}) AS grams
    FROM counted
    GROUP BY stay_id, order_key
)

, per_stay AS (
    SELECT
        stay_id
        , MIN(first_hours) AS first_dose_hours
        , SUM(grams) AS total_dose_g
    FROM per_order
    GROUP BY stay_id
)

SELECT
    ie.stay_id
    , CASE WHEN p.stay_id IS NULL THEN 0 ELSE 1 END AS treated
    , p.first_dose_hours
    , p.total_dose_g
FROM mimiciv_icu.icustays AS ie
LEFT JOIN per_stay AS p
    ON ie.stay_id = p.stay_id
