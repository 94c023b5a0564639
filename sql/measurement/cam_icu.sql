-- mimiciv_derived.cam_icu: Confusion Assessment Method for the ICU (CAM-ICU) per ICU stay and
-- charttime: the four features as charted, the algorithm's result, the overall "Delirium
-- assessment" item, and the result used (cam_icu_positive). One row per (stay_id, charttime)
-- at which any of the items below was charted.
-- Source: Ely EW et al., JAMA 2001 (below) for the algorithm; the MIMIC-IV v2.2 icu.d_items
-- labels for the itemids. Not a mimic-code concept (mimic-code has none for CAM-ICU).
--
-- Algorithm (Ely EW, Inouye SK, Bernard GR, et al. Delirium in mechanically ventilated
-- patients: validity and reliability of the Confusion Assessment Method for the Intensive Care
-- Unit (CAM-ICU). JAMA 2001;286(21):2703-2710): delirium is present when
--     feature 1 (acute change or fluctuating course of mental status)
--     AND feature 2 (inattention)
--     AND (feature 3 (altered level of consciousness) OR feature 4 (disorganized thinking)).
-- It is absent when feature 1 or feature 2 is absent, or features 3 and 4 are both absent.
-- Anything else (a feature not charted, or charted "Unable to Assess") leaves it undetermined.
-- That is SQL's three-valued AND/OR on 1/0/NULL, written out below.
--
-- MIMIC-IV items (icu.d_items, category Pain/Sedation, all chartevents, text values). MetaVision
-- holds up to three itemids per feature (form versions; see mimic-code issue #1652):
--   feature 1  228300 "CAM-ICU MS change", 228337 "CAM-ICU MS Change", 229326 "CAM-ICU MS Change"
--   feature 2  228301 "CAM-ICU Inattention", 228336 "CAM-ICU Inattention",
--              229325 "CAM-ICU Inattention"
--   feature 3  228302 "CAM-ICU RASS LOC", 228334 "CAM-ICU Altered LOC"
--   feature 4  228303 "CAM-ICU Disorganized thinking", 228335 "CAM-ICU Disorganized thinking",
--              229324 "CAM-ICU Disorganized thinking"
--   overall    228332 "Delirium assessment" (values Positive / Negative / UTA)
-- 228302 "RASS LOC" is read as feature 3 ("is the current RASS other than 0?"): it sits in the
-- 228300-228303 series in feature order (1, 2, 3, 4); some users read it as the RASS screening
-- step instead (CLIF-MIMIC issue #17). 228688 "Delirium" (category MD Progress Note) is a note
-- field, not an assessment, and is not read.
--
-- Values: a feature is present (1) when the charted text starts with the word "Yes" (e.g. "Yes",
-- "Yes (Continue)", "Yes (3 or more errors)"), absent (0) when it starts with the word "No"
-- (e.g. "No", "No (Stop-Not delirious)", "No (less than 3 errors)"), otherwise NULL ("Unable to
-- Assess", "UTA", "Language Barrier", ...). The overall item is 1 for text starting with
-- "Positive", 0 for "Negative", otherwise NULL. Several rows of one feature at one charttime:
-- present if any says present (MAX).
--
-- cam_icu_positive = the algorithm's result when it is determined, else the overall item, else
-- NULL. The algorithm comes first because it is the instrument's definition; both inputs are
-- kept (cam_icu_features, delirium_assessment) for checks and sensitivity analyses.
WITH items AS (
    SELECT
        ce.subject_id
        , ce.stay_id
        , ce.charttime
        , CASE
            WHEN ce.itemid IN (228300, 228337, 229326) THEN 'ms_change'
            WHEN ce.itemid IN (228301, 228336, 229325) THEN 'inattention'
            WHEN ce.itemid IN (228302, 228334) THEN 'altered_loc'
            WHEN ce.itemid IN (228303, 228335, 229324) THEN 'disorganized_thinking'
            WHEN ce.itemid = 228332 THEN 'delirium_assessment'
        END AS item
        , lower(trim(ce.value)) AS answer
    FROM stage.chartevents AS ce
    WHERE ce.itemid IN (
        228300, 228337, 229326, 228301, 228336, 229325, 228302, 228334, 228303, 228335, 229324,
        228332
    )
        AND ce.stay_id IS NOT NULL
)

, coded AS (
    SELECT
        subject_id
        , stay_id
        , charttime
        , item
        , CASE
            WHEN item = 'delirium_assessment' AND regexp_matches(answer, '^positive') THEN 1
            WHEN item = 'delirium_assessment' AND regexp_matches(answer, '^negative') THEN 0
            WHEN item != 'delirium_assessment' AND regexp_matches(answer, '^yes\b') THEN 1
            WHEN item != 'delirium_assessment' AND regexp_matches(answer, '^no\b') THEN 0
        END AS present
    FROM items
)

, pivoted AS (
    SELECT
        MAX(subject_id) AS subject_id
        , stay_id
        , charttime
        , MAX(CASE WHEN item = 'ms_change' THEN present END) AS ms_change
        , MAX(CASE WHEN item = 'inattention' THEN present END) AS inattention
        , MAX(CASE WHEN item = 'altered_loc' THEN present END) AS altered_loc
        , MAX(CASE WHEN item = 'disorganized_thinking' THEN present END) AS disorganized_thinking
        , MAX(CASE WHEN item = 'delirium_assessment' THEN present END) AS delirium_assessment
    FROM coded
    GROUP BY stay_id, charttime
)

, scored AS (
    SELECT
        p.*
        , CASE
            WHEN p.ms_change = 1 AND p.inattention = 1
                AND (p.altered_loc = 1 OR p.disorganized_thinking = 1) THEN 1
            WHEN p.ms_change = 0 OR p.inattention = 0
                OR (p.altered_loc = 0 AND p.disorganized_thinking = 0) THEN 0
        END AS cam_icu_features
    FROM pivoted AS p
)

SELECT
    subject_id
    , stay_id
    , charttime
    , ms_change
    , inattention
    , altered_loc
    , disorganized_thinking
    , cam_icu_features
    , delirium_assessment
    , COALESCE(cam_icu_features, delirium_assessment) AS cam_icu_positive
FROM scored
ORDER BY stay_id, charttime
