-- study.covariate_labs: per stay of the final cohort, the FIRST value of each laboratory
-- covariate (covariates.labs: name -> hosp.labevents itemids) drawn in
-- [intime + ${labs_window_start_hours} h, intime + ${labs_window_end_hours} h], matched to the stay by subject_id
-- (as mimic-code's first_day_lab); values must be positive (mimic-code: "lab values cannot
-- be 0 and cannot be negative"). Ties at the same charttime: the itemid listed first, then
-- the lowest value. NULL when not measured. One column per lab name.
-- Source: study file (covariates.labs, covariates.labs_window_hours).
WITH lab_item AS (
    SELECT CAST(name AS VARCHAR) AS name, CAST(itemid AS INTEGER) AS itemid, CAST(priority AS INTEGER) AS priority
    FROM (VALUES ${lab_itemid_rows}) AS t(name, itemid, priority)
    WHERE itemid IS NOT NULL
)

, lab AS (
    SELECT
        f.stay_id
        , li.name
        , le.valuenum
        , ROW_NUMBER() OVER (
            PARTITION BY f.stay_id, li.name
            ORDER BY le.charttime, li.priority, le.valuenum
        ) AS rn
    FROM study.final_stay AS f
    INNER JOIN mimiciv_hosp.labevents AS le
        ON f.subject_id = le.subject_id
            AND le.charttime >= f.intime + to_seconds(${labs_window_start_hours} * 3600.0)
            AND le.charttime <= f.intime + to_seconds(${labs_window_end_hours} * 3600.0)
    INNER JOIN lab_item AS li
        ON le.itemid = li.itemid
    WHERE le.valuenum IS NOT NULL
        AND le.valuenum > 0
)

, first_lab AS (
    SELECT stay_id, name, valuenum
    FROM lab
    WHERE rn = 1
)

, wide AS (
    PIVOT first_lab ON name IN (${lab_names}) USING first(valuenum) GROUP BY stay_id
)

SELECT
    f.stay_id
    , wide.* EXCLUDE (stay_id)
FROM study.final_stay AS f
LEFT JOIN wide
    ON f.stay_id = wide.stay_id
