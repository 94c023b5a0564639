-- study.covariate_treatments: per stay of the final cohort, 0/1 flags for treatments in
-- [intime + ${treatments_window_start_hours} h, intime + ${treatments_window_end_hours} h]:
--   mechanical_ventilation  an episode of mimiciv_derived.ventilation with status in
--                           (${ventilation_statuses}) overlapping the window
--   vasopressor             an infusion of (${vasopressors}) (mimiciv_derived.<agent>, rate or
--                           amount > 0) overlapping the window
--   rrt                     dialysis documented (mimiciv_derived.rrt, dialysis_present = 1)
--                           with its time in the window
-- Source: study file (covariates section); mimic-code treatment/ventilation.sql, rrt.sql and
-- medication/<agent>.sql.
WITH win AS (
    SELECT
        stay_id
        , intime + to_seconds(${treatments_window_start_hours} * 3600.0) AS w_start
        , intime + to_seconds(${treatments_window_end_hours} * 3600.0) AS w_end
    FROM study.final_stay
)

, vent AS (
    SELECT DISTINCT w.stay_id
    FROM win AS w
    INNER JOIN mimiciv_derived.ventilation AS v
        ON w.stay_id = v.stay_id
            AND v.ventilation_status IN (${ventilation_statuses})
            AND v.starttime <= w.w_end
            AND v.endtime >= w.w_start
)

, agent AS (
    -- every vasoactive infusion, one agent per row (mimiciv_derived.vasoactive_infusion)
    SELECT agent, stay_id, vaso_rate, vaso_amount, starttime, endtime
    FROM mimiciv_derived.vasoactive_infusion
)

, vaso AS (
    SELECT DISTINCT w.stay_id
    FROM win AS w
    INNER JOIN agent AS a
        ON w.stay_id = a.stay_id
            AND a.agent IN (${vasopressors})
            AND (a.vaso_rate > 0 OR a.vaso_amount > 0)
            AND a.starttime <= w.w_end
            AND a.endtime >= w.w_start
)

, rrt AS (
    SELECT DISTINCT w.stay_id
    FROM win AS w
    INNER JOIN mimiciv_derived.rrt AS r
        ON w.stay_id = r.stay_id
            AND r.dialysis_present = 1
            AND r.charttime >= w.w_start
            AND r.charttime <= w.w_end
)

SELECT
    w.stay_id
    , CASE WHEN vent.stay_id IS NULL THEN 0 ELSE 1 END AS mechanical_ventilation
    , CASE WHEN vaso.stay_id IS NULL THEN 0 ELSE 1 END AS vasopressor
    , CASE WHEN rrt.stay_id IS NULL THEN 0 ELSE 1 END AS rrt
FROM win AS w
LEFT JOIN vent ON w.stay_id = vent.stay_id
LEFT JOIN vaso ON w.stay_id = vaso.stay_id
LEFT JOIN rrt ON w.stay_id = rrt.stay_id
