-- study.covariate_demographics: per stay of the final cohort (study.final_stay):
--   age     years at hospital admission (mimiciv_derived.age), as a float
--   male    1 when patients.gender = 'M', 0 when 'F', NULL otherwise
--   weight  kg: the admission weight of the first ICU day, else the mean first-day weight
--           (mimiciv_derived.first_day_weight, mimic-code)
--   anchor_year_group  patients.anchor_year_group (the de-identified period of the patient's
--           admissions; descriptive: the report compares the exposure rate across periods)
--   race    admissions.race grouped by the study's prefix rules (covariates.race_groups:
--           the first group with a prefix the race starts with); ${race_other} when no rule
--           matches; ${race_missing} when race is missing.
-- Source: study file (covariates section); mimic-code demographics/age.sql and
-- firstday/first_day_weight.sql.
WITH race_rule AS (
    SELECT CAST(ord AS INTEGER) AS ord, CAST(grp AS VARCHAR) AS grp, upper(CAST(prefix AS VARCHAR)) AS prefix
    FROM (VALUES ${race_group_rows}) AS t(ord, grp, prefix)
    WHERE prefix IS NOT NULL
)

, race AS (
    SELECT
        f.stay_id
        , adm.race
        , arg_min(r.grp, r.ord) AS race_group
    FROM study.final_stay AS f
    INNER JOIN mimiciv_hosp.admissions AS adm
        ON f.hadm_id = adm.hadm_id
    LEFT JOIN race_rule AS r
        ON starts_with(upper(trim(adm.race)), r.prefix)
    GROUP BY f.stay_id, adm.race
)

SELECT
    f.stay_id
    , CAST(ag.age AS DOUBLE) AS age
    , CASE WHEN pat.gender = 'M' THEN 1 WHEN pat.gender = 'F' THEN 0 END AS male
    , CAST(COALESCE(w.weight_admit, w.weight) AS DOUBLE) AS weight
    , pat.anchor_year_group
    , CASE
        WHEN race.race IS NULL OR trim(race.race) = '' THEN ${race_missing}
        ELSE COALESCE(race.race_group, ${race_other})
    END AS race
FROM study.final_stay AS f
LEFT JOIN mimiciv_derived.age AS ag
    ON f.hadm_id = ag.hadm_id
LEFT JOIN mimiciv_hosp.patients AS pat
    ON f.subject_id = pat.subject_id
LEFT JOIN mimiciv_derived.first_day_weight AS w
    ON f.stay_id = w.stay_id
LEFT JOIN race
    ON f.stay_id = race.stay_id
