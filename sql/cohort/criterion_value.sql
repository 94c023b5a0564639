-- study.criterion_value: (name, stay_id, value) for every concept_value step of the study's
-- criteria (icu_cohort.criteria) and every ICU stay that meets it: the lowest (statistic
-- 'lowest') or highest ('highest') value of the step's concept charted in
-- [intime + start_hours, intime + end_hours] compares to the step's value with its operator
-- (<, <=, >, >=). A stay with no value in the window is not listed (does not meet it).
-- Concepts (the value and its time):
--   gcs                        mimiciv_derived.gcs.gcs at charttime (intubated: 15, mimic-code)
--   sofa                       mimiciv_derived.sofa.sofa_24hours at endtime (the 24-hour SOFA
--                              ending at that hour)
--   heart_rate, sbp, dbp, mbp, resp_rate, temperature, spo2
--                              mimiciv_derived.vitalsign at charttime (temperature in deg C)
--   lab                        hosp.labevents.valuenum of the step's itemids, matched to the
--                              stay by subject_id (as mimic-code's first_day_lab), at charttime
-- With gcs and the window [-6 h, 24 h] the lowest value is mimiciv_derived.first_day_gcs.gcs_min.
-- Source: study file (cohort.criteria, concept_value steps); mimic-code measurement/gcs.sql,
-- vitalsign.sql, score/sofa.sql.
WITH step AS (
    SELECT
        CAST(name AS VARCHAR) AS name
        , CAST(concept AS VARCHAR) AS concept
        , CAST(statistic AS VARCHAR) AS statistic
        , CAST(operator AS VARCHAR) AS operator
        , CAST(value AS DOUBLE) AS value
        , CAST(start_hours AS DOUBLE) AS start_hours
        , CAST(end_hours AS DOUBLE) AS end_hours
    FROM (VALUES ${value_rows}) AS t(name, concept, statistic, operator, value, start_hours, end_hours)
    WHERE name IS NOT NULL
)

, lab_item AS (
    SELECT CAST(name AS VARCHAR) AS name, CAST(itemid AS INTEGER) AS itemid
    FROM (VALUES ${value_lab_rows}) AS t(name, itemid)
    WHERE name IS NOT NULL
)

, win AS (
    SELECT
        s.name
        , s.concept
        , ie.subject_id
        , ie.stay_id
        , ie.intime + to_seconds(s.start_hours * 3600.0) AS w_start
        , ie.intime + to_seconds(s.end_hours * 3600.0) AS w_end
    FROM step AS s
    CROSS JOIN mimiciv_icu.icustays AS ie
)

, measured AS (
    SELECT w.name, w.stay_id, CAST(g.gcs AS DOUBLE) AS v
    FROM win AS w
    INNER JOIN mimiciv_derived.gcs AS g
        ON w.concept = 'gcs'
            AND g.stay_id = w.stay_id
            AND g.charttime >= w.w_start
            AND g.charttime <= w.w_end
    UNION ALL
    SELECT w.name, w.stay_id, CAST(so.sofa_24hours AS DOUBLE) AS v
    FROM win AS w
    INNER JOIN mimiciv_derived.sofa AS so
        ON w.concept = 'sofa'
            AND so.stay_id = w.stay_id
            AND so.endtime >= w.w_start
            AND so.endtime <= w.w_end
    UNION ALL
    SELECT
        w.name
        , w.stay_id
        , CAST(CASE w.concept
            WHEN 'heart_rate' THEN vs.heart_rate
            WHEN 'sbp' THEN vs.sbp
            WHEN 'dbp' THEN vs.dbp
            WHEN 'mbp' THEN vs.mbp
            WHEN 'resp_rate' THEN vs.resp_rate
            WHEN 'temperature' THEN vs.temperature
            WHEN 'spo2' THEN vs.spo2
        END AS DOUBLE) AS v
    FROM win AS w
    INNER JOIN mimiciv_derived.vitalsign AS vs
        ON w.concept IN ('heart_rate', 'sbp', 'dbp', 'mbp', 'resp_rate', 'temperature', 'spo2')
            AND vs.stay_id = w.stay_id
            AND vs.charttime >= w.w_start
            AND vs.charttime <= w.w_end
    UNION ALL
    SELECT w.name, w.stay_id, le.valuenum AS v
    FROM win AS w
    INNER JOIN lab_item AS li
        ON w.concept = 'lab'
            AND li.name = w.name
    INNER JOIN mimiciv_hosp.labevents AS le
        ON le.subject_id = w.subject_id
            AND le.itemid = li.itemid
            AND le.charttime >= w.w_start
            AND le.charttime <= w.w_end
)

, summary AS (
    SELECT name, stay_id, MIN(v) AS lowest, MAX(v) AS highest
    FROM measured
    WHERE v IS NOT NULL
    GROUP BY name, stay_id
)

, valued AS (
    SELECT
        s.name
        , m.stay_id
        , s.operator
        , s.value AS threshold
        , CASE s.statistic WHEN 'lowest' THEN m.lowest ELSE m.highest END AS value
    FROM summary AS m
    INNER JOIN step AS s
        ON m.name = s.name
)

SELECT name, stay_id, value
FROM valued
WHERE CASE operator
    WHEN '<' THEN value < threshold
    WHEN '<=' THEN value <= threshold
    WHEN '>' THEN value > threshold
    WHEN '>=' THEN value >= threshold
END
