-- study.criterion_cam_icu: (name, stay_id) for every cam_icu step of the study's criteria
-- (icu_cohort.criteria) and every ICU stay with a positive CAM-ICU assessment
-- (mimiciv_derived.cam_icu, cam_icu_positive = 1) charted in
-- [intime + start_hours, intime + end_hours].
-- Source: study file (cohort.criteria, cam_icu steps); Ely EW et al., JAMA 2001;286:2703-2710
-- (CAM-ICU), as sql/measurement/cam_icu.sql computes it.
WITH step AS (
    SELECT
        CAST(name AS VARCHAR) AS name
        , CAST(start_hours AS DOUBLE) AS start_hours
        , CAST(end_hours AS DOUBLE) AS end_hours
    FROM (VALUES ${cam_icu_rows}) AS t(name, start_hours, end_hours)
    WHERE name IS NOT NULL
)

SELECT DISTINCT s.name, ie.stay_id
FROM step AS s
CROSS JOIN mimiciv_icu.icustays AS ie
INNER JOIN mimiciv_derived.cam_icu AS c
    ON c.stay_id = ie.stay_id
        AND c.cam_icu_positive = 1
        AND c.charttime >= ie.intime + to_seconds(s.start_hours * 3600.0)
        AND c.charttime <= ie.intime + to_seconds(s.end_hours * 3600.0)
