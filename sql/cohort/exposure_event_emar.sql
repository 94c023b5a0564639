-- exposure_event_emar: study.exposure_event for an exposure from hosp.emar (run instead of
-- cohort/exposure_event.sql when the study's exposure source is emar): one row per
-- administration event of the study's medication that was actually given, matched to each ICU
-- stay of its admission whose outtime it precedes: stay_id, order_key ('emar-' || emar_id:
-- one event is one order), hours_from_intime (emar.charttime, the time of the administration,
-- from the stay's intime), grams (the dose given; NULL when unknown) and ml (NULL: emar doses
-- are not converted from a volume). cohort/exposure.sql applies the window and the minimum
-- dose, as for every source.
--
-- An event counts when
--   * emar.medication matches one of the study's patterns (case-insensitive regular
--     expressions, anywhere in the name, e.g. '^magnesium sulfate');
--   * trim(emar.event_txt) is one of the events that record a dose given
--     (icu_cohort.cohort.EMAR_ADMINISTERED_EVENTS, which says why: ${emar_administered_events}).
--     'Not Given', 'Hold Dose', 'Delayed' (not yet given), 'Stopped' (the end of an infusion
--     already counted at its start), 'Confirmed', 'Assessed', 'Flushed' and a NULL event_txt
--     do not count;
--   * its route passes the study's route rule. MIMIC-IV records the route in emar_detail, on
--     the event's parent row (parent_field_ordinal NULL), and only for some routes: on the open
--     demo PO, NG, SC, IM and PR, never IV (an IV magnesium sulfate bag has no route at all); the
--     formulary-dose rows ('1.1', '1.2', ...) never carry one. So the routes of an event are
--     those on any of its emar_detail rows (the parent row's, in practice), a NULL route is
--     "not recorded", and: an event with a recorded route in the study's excluded_routes
--     (${exposure_excluded_routes}) does not count (how an IV study leaves out oral magnesium:
--     PO, NG, ...); when the study lists routes, only events with one of them recorded count
--     (so an event without a recorded route never does). Routes are compared after trim and
--     upper case;
--   * its admission (emar.hadm_id) has the ICU stay and charttime < the stay's outtime (emar
--     rows without hadm_id are not linked to a stay: on the demo none of its 1,006 such rows
--     falls within an ICU stay of the patient).
-- grams: the sum, over the event's formulary-dose rows (parent_field_ordinal NOT NULL: the
-- doses given; the parent row holds the dose due, e.g. 4 gm for two 2 gm bags, and is not
-- added), of dose_given in 'g' / 'gm' / 'gram' / 'grams' (case-insensitive) or 'mg' / 1000;
-- dose_given is text: a value that is not a plain number (digits with an optional decimal
-- point, as mimic-code's mimic-iv/concepts/medication/heparin.sql casts dose_val_rx; tested
-- before the cast: the exported PostgreSQL SQL has no TRY_CAST and its CAST fails on text such
-- as '1-2'), or a row in another unit
-- (mL, mEq, TAB), adds nothing, and an event with none in grams has NULL grams (it counts as
-- exposed, and 0 towards a minimum dose).
-- Source: MIMIC-IV documentation of hosp.emar (event_txt: "Most frequently 'Administered', but
-- other possible values are 'Applied', 'Confirmed', 'Delayed', 'Not Given'"; charttime: "the
-- time at which the medication was administered") and hosp.emar_detail (one parent row per
-- event with NULL parent_field_ordinal, "usually the dose due", then one row per formulary
-- dose, "usually providing the actual dose administered"), mimic.mit.edu/docs/IV/modules/hosp/;
-- the values on the MIMIC-IV demo v2.2. mimic-code's concepts (mimic-iv/concepts/medication)
-- read prescriptions and inputevents, not emar: no mimic-code definition to follow here.
WITH drug_pattern AS (
    SELECT CAST(pattern AS VARCHAR) AS pattern
    FROM (VALUES ${exposure_drug_pattern_rows}) AS t(pattern)
    WHERE pattern IS NOT NULL
)

, administration AS (
    SELECT
        em.emar_id
        , em.hadm_id
        , em.charttime
    FROM mimiciv_hosp.emar AS em
    WHERE ${exposure_source} = 'emar'
        AND em.charttime IS NOT NULL
        AND trim(em.event_txt) IN (${emar_administered_events})
        AND EXISTS (SELECT 1 FROM drug_pattern AS dp WHERE regexp_matches(lower(em.medication), lower(dp.pattern)))
)

, detail AS (
    SELECT
        d.emar_id
        , bool_or(upper(trim(d.route)) IN (${exposure_excluded_routes})) AS excluded_route
        , bool_or(upper(trim(d.route)) IN (${exposure_routes})) AS listed_route
        , SUM(
            CASE
                WHEN d.parent_field_ordinal IS NULL THEN NULL
                WHEN NOT regexp_matches(trim(d.dose_given), '^[0-9]*\.?[0-9]+$') THEN NULL
                WHEN lower(trim(d.dose_given_unit)) IN ('g', 'gm', 'gram', 'grams')
                    THEN CAST(trim(d.dose_given) AS DOUBLE)
                WHEN lower(trim(d.dose_given_unit)) = 'mg' THEN CAST(trim(d.dose_given) AS DOUBLE) / 1000.0
            END
        ) AS grams
    FROM mimiciv_hosp.emar_detail AS d
    WHERE d.emar_id IN (SELECT a.emar_id FROM administration AS a)
    GROUP BY d.emar_id
)

SELECT
    ie.stay_id
    , 'emar-' || a.emar_id AS order_key
    , date_diff('second', ie.intime, a.charttime) / 3600.0 AS hours_from_intime
    , dt.grams
    , CAST(NULL AS DOUBLE) AS ml
FROM administration AS a
INNER JOIN mimiciv_icu.icustays AS ie
    ON a.hadm_id = ie.hadm_id
        AND a.charttime < ie.outtime
LEFT JOIN detail AS dt
    ON a.emar_id = dt.emar_id
WHERE NOT COALESCE(dt.excluded_route, FALSE)
    AND (NOT ${exposure_routes_listed} OR COALESCE(dt.listed_route, FALSE))
