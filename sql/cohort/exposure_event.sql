-- study.exposure_event: the candidate exposure rows of the study's source table
-- (${exposure_source}: inputevents, procedureevents or prescriptions; hosp.emar has its own
-- file, cohort/exposure_event_emar.sql, run instead of this one), one row per source row
-- matched to an ICU stay: stay_id, order_key (rows of one order share it), hours_from_intime
-- (start of the row), grams and ml (the dose documented; NULL when unknown). Rows:
--   inputevents      icu.inputevents of the stay with itemid in (${exposure_itemids}), amount > 0,
--                    statusdescription not in (${exposure_excluded_statuses}); order_key = orderid
--   procedureevents  icu.procedureevents of the stay with itemid in (${exposure_itemids}),
--                    statusdescription not in (${exposure_excluded_statuses}); no dose (NULL grams)
--   prescriptions    hosp.prescriptions of the stay's admission whose drug matches one of the
--                    study's patterns (case-insensitive regular expressions) and whose route
--                    (trimmed, upper case) is one of (${exposure_routes}), starting before the
--                    stay's outtime: so oral magnesium (route PO) never counts as IV; grams from
--                    dose_val_rx in g / gm / mg when it is a plain number (digits, an optional
--                    decimal point: mimic-code's medication/heparin.sql test; a range such as
--                    '1-2' or text: NULL grams; tested before the cast, because the exported
--                    PostgreSQL SQL has no TRY_CAST and its CAST fails on such text)
-- grams: inputevents rows documented in grams (or mg / 1000); ml: inputevents rows documented as
-- a volume (cohort/exposure.sql converts an order documented only in mL).
-- The window and the minimum dose are applied by cohort/exposure.sql.
-- Source: study file (exposure section); MIMIC-IV inputevents documentation (orderid groups
-- the components of one order); Gu W-J et al., Br J Anaesth 2023 (IV MgSO4 in the ICU).
WITH drug_pattern AS (
    SELECT CAST(pattern AS VARCHAR) AS pattern
    FROM (VALUES ${exposure_drug_pattern_rows}) AS t(pattern)
    WHERE pattern IS NOT NULL
)

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
        WHEN NOT regexp_matches(trim(rx.dose_val_rx), '^[0-9]*\.?[0-9]+$') THEN NULL
        WHEN lower(trim(rx.dose_unit_rx)) IN ('g', 'gm', 'gram', 'grams') THEN CAST(trim(rx.dose_val_rx) AS DOUBLE)
        WHEN lower(trim(rx.dose_unit_rx)) = 'mg' THEN CAST(trim(rx.dose_val_rx) AS DOUBLE) / 1000.0
    END AS grams
    , CAST(NULL AS DOUBLE) AS ml
FROM mimiciv_hosp.prescriptions AS rx
INNER JOIN mimiciv_icu.icustays AS ie
    ON rx.hadm_id = ie.hadm_id
        AND rx.starttime < ie.outtime
WHERE ${exposure_source} = 'prescriptions'
    AND upper(trim(rx.route)) IN (${exposure_routes})
    AND EXISTS (SELECT 1 FROM drug_pattern AS dp WHERE regexp_matches(lower(rx.drug), lower(dp.pattern)))
