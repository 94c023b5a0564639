-- study.criterion_treatment: (name, stay_id) for every treatment step of the study's criteria
-- (icu_cohort.criteria) and every ICU stay that received the treatment in
-- [intime + start_hours, intime + end_hours]:
--   ventilation  an episode of mimiciv_derived.ventilation whose status is one of the step's
--                statuses, overlapping the window (starttime <= end and endtime >= start)
--   vasopressor  an infusion of one of the step's agents (mimiciv_derived.<agent>, rate or
--                amount > 0) overlapping the window
--   rrt          dialysis documented (mimiciv_derived.rrt, dialysis_present = 1) charted in it
-- The same definitions as the treatment covariates (cohort/covariate_treatments.sql).
-- Source: study file (cohort.criteria, treatment steps); mimic-code treatment/ventilation.sql,
-- treatment/rrt.sql and medication/<agent>.sql.
WITH step AS (
    SELECT
        CAST(name AS VARCHAR) AS name
        , CAST(treatment AS VARCHAR) AS treatment
        , CAST(start_hours AS DOUBLE) AS start_hours
        , CAST(end_hours AS DOUBLE) AS end_hours
    FROM (VALUES ${treatment_rows}) AS t(name, treatment, start_hours, end_hours)
    WHERE name IS NOT NULL
)

, member AS (
    SELECT CAST(name AS VARCHAR) AS name, CAST(member AS VARCHAR) AS member
    FROM (VALUES ${treatment_member_rows}) AS t(name, member)
    WHERE name IS NOT NULL
)

, win AS (
    SELECT
        s.name
        , s.treatment
        , ie.stay_id
        , ie.intime + to_seconds(s.start_hours * 3600.0) AS w_start
        , ie.intime + to_seconds(s.end_hours * 3600.0) AS w_end
    FROM step AS s
    CROSS JOIN mimiciv_icu.icustays AS ie
)

, agent AS (
    -- every vasoactive infusion, one agent per row (mimiciv_derived.vasoactive_infusion)
    SELECT agent, stay_id, vaso_rate, vaso_amount, starttime, endtime
    FROM mimiciv_derived.vasoactive_infusion
)

SELECT DISTINCT w.name, w.stay_id
FROM win AS w
INNER JOIN member AS m
    ON w.name = m.name
INNER JOIN mimiciv_derived.ventilation AS v
    ON w.treatment = 'ventilation'
        AND w.stay_id = v.stay_id
        AND v.ventilation_status = m.member
        AND v.starttime <= w.w_end
        AND v.endtime >= w.w_start
UNION
SELECT DISTINCT w.name, w.stay_id
FROM win AS w
INNER JOIN member AS m
    ON w.name = m.name
INNER JOIN agent AS a
    ON w.treatment = 'vasopressor'
        AND w.stay_id = a.stay_id
        AND a.agent = m.member
        AND (a.vaso_rate > 0 OR a.vaso_amount > 0)
        AND a.starttime <= w.w_end
        AND a.endtime >= w.w_start
UNION
SELECT DISTINCT w.name, w.stay_id
FROM win AS w
INNER JOIN mimiciv_derived.rrt AS r
    ON w.treatment = 'rrt'
        AND w.stay_id = r.stay_id
        AND r.dialysis_present = 1
        AND r.charttime >= w.w_start
        AND r.charttime <= w.w_end
