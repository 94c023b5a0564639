-- study.exposure: the exposure of every ICU stay, from the study's source table
-- (${exposure_source}): treated = 1 when the stay has a counted row starting in
-- [intime + ${exposure_window_start_hours} h, intime + ${exposure_window_end_hours} h)
-- (an end of NULL: no upper bound within the stay) and, when the study sets a minimum dose
-- (${exposure_min_dose_g} g; NULL: none), the counted grams reach it. Counted rows:
--   inputevents      icu.inputevents of the stay with itemid in (${exposure_itemids}), amount > 0,
--                    statusdescription not in (${exposure_excluded_statuses})
--   procedureevents  icu.procedureevents of the stay with itemid in (${exposure_itemids}),
--                    statusdescription not in (${exposure_excluded_statuses}); no dose (NULL grams)
--   prescriptions    hosp.prescriptions of the stay's admission whose drug matches one of the
--                    study's patterns (case-insensitive regular expressions) and whose route
--                    (trimmed, upper case) is one of (${exposure_routes}), starting before the
--                    stay's outtime: so oral magnesium (route PO) never counts as IV; grams from
--                    dose_val_rx in g / gm / mg (a range such as '1-2' or text: NULL grams)
--   first_dose_hours  hours from intime to the earliest counted starttime
--   total_dose_g      grams over the counted rows: inputevents per order (orderid), the rows
--                     documented in grams (or mg / 1000); an order documented only as a volume
--                     (mL, e.g. 227523 "Magnesium Sulfate (Bolus)" alone) counts volume x
--                     ${exposure_grams_per_ml} g/mL; an order with both a gram row (222011) and
--                     a mL row (227523) counts the grams once; prescriptions per row.
-- NULL first_dose_hours / total_dose_g when untreated.
-- Source: study file (exposure section); MIMIC-IV inputevents documentation (orderid groups
-- the components of one order); Gu W-J et al., Br J Anaesth 2023 (IV MgSO4 in the ICU).
WITH drug_pattern AS (
    SELECT CAST(pattern AS VARCHAR) AS pattern
    FROM (VALUES ${exposure_drug_pattern_rows}) AS t(pattern)
    WHERE pattern IS NOT NULL
)

, dose_row AS (
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
    WHERE ${exposure_source} = 'inputevents'
        AND inp.itemid IN (${exposure_itemids})
        AND inp.amount > 0
        AND NOT COALESCE(inp.statusdescription IN (${exposure_excluded_statuses}), FALSE)
    UNION ALL
    SELECT
        ie.stay_id
        , 'procedure-' || CAST(ROW_NUMBER() OVER () AS VARCHAR) AS order_key
        , date_diff('second', ie.intime, pe.starttime) / 3600.0 AS hours_from_intime
        , CAST(NULL AS DOUBLE) AS grams
        , CAST(NULL AS DOUBLE) AS ml
    FROM mimiciv_icu.procedureevents AS pe
    INNER JOIN mimiciv_icu.icustays AS ie
        ON pe.stay_id = ie.stay_id
    WHERE ${exposure_source} = 'procedureevents'
        AND pe.itemid IN (${exposure_itemids})
        AND NOT COALESCE(pe.statusdescription IN (${exposure_excluded_statuses}), FALSE)
    UNION ALL
    SELECT
        ie.stay_id
        , 'rx-' || CAST(rx.pharmacy_id AS VARCHAR) || '-' || CAST(ROW_NUMBER() OVER () AS VARCHAR) AS order_key
        , date_diff('second', ie.intime, rx.starttime) / 3600.0 AS hours_from_intime
        , CASE
            WHEN lower(trim(rx.dose_unit_rx)) IN ('g', 'gm', 'gram', 'grams') THEN TRY_CAST(trim(rx.dose_val_rx) AS DOUBLE)
            WHEN lower(trim(rx.dose_unit_rx)) = 'mg' THEN TRY_CAST(trim(rx.dose_val_rx) AS DOUBLE) / 1000.0
        END AS grams
        , CAST(NULL AS DOUBLE) AS ml
    FROM mimiciv_hosp.prescriptions AS rx
    INNER JOIN mimiciv_icu.icustays AS ie
        ON rx.hadm_id = ie.hadm_id
            AND rx.starttime < ie.outtime
    WHERE ${exposure_source} = 'prescriptions'
        AND upper(trim(rx.route)) IN (${exposure_routes})
        AND EXISTS (SELECT 1 FROM drug_pattern AS dp WHERE regexp_matches(lower(rx.drug), lower(dp.pattern)))
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
