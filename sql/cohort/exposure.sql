-- study.exposure: the exposure of every ICU stay, from the candidate rows of the study's source
-- (study.exposure_event: cohort/exposure_event.sql for inputevents, procedureevents and
-- prescriptions, cohort/exposure_event_emar.sql for hosp.emar): treated = 1 when the stay has
-- a row starting in [intime + ${exposure_window_start_hours} h, intime + ${exposure_window_end_hours} h)
-- (an end of NULL: no upper bound within the stay) and, when the study sets a minimum dose
-- (${exposure_min_dose_g} g; NULL: none), the counted grams reach it.
--   first_dose_hours  hours from intime to the earliest counted row
--   total_dose_g      grams over the counted rows, per order (order_key): the rows documented in
--                     grams; an order documented only as a volume (mL, e.g. inputevents 227523
--                     "Magnesium Sulfate (Bolus)" alone) counts volume x ${exposure_grams_per_ml} g/mL;
--                     an order with both a gram row (222011) and a mL row (227523) counts the
--                     grams once; rows of unknown dose count 0 towards the minimum dose.
-- NULL first_dose_hours / total_dose_g when untreated.
-- Source: study file (exposure section); MIMIC-IV inputevents documentation (orderid groups
-- the components of one order); Gu W-J et al., Br J Anaesth 2023 (IV MgSO4 in the ICU).
WITH counted AS (
    SELECT *
    FROM study.exposure_event
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

, exposed AS (
    SELECT *
    FROM per_stay
    WHERE ${exposure_min_dose_g} IS NULL
        OR COALESCE(total_dose_g, 0) >= ${exposure_min_dose_g}
)

SELECT
    ie.stay_id
    , CASE WHEN p.stay_id IS NULL THEN 0 ELSE 1 END AS treated
    , p.first_dose_hours
    , p.total_dose_g
FROM mimiciv_icu.icustays AS ie
LEFT JOIN exposed AS p
    ON ie.stay_id = p.stay_id
