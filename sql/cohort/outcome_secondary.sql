-- study.outcome_secondary: (name, stay_id, event, time_days) for every secondary outcome of the
-- study (outcome.secondary) and every ICU stay:
--   death_within       event = 1 when the death time of study.outcome (admissions.deathtime,
--                      else patients.dod at ${outcome_dod_hour_of_day}:00) is within horizon_days
--                      of intime; time_days = days to that death (0 if charted before intime),
--                      else horizon_days (censored)
--   in_hospital_death  event = 1 when the stay's hospital admission ends in death
--                      (admissions.deathtime present or hospital_expire_flag = 1); time_days =
--                      days from intime to deathtime (else dischtime: censored at discharge)
-- The runner (icu_cohort.cohort) adds them to the cohort as <name> and <name>_time_days.
-- Source: study file (outcome.secondary); MIMIC-IV v2.2 documentation of admissions.deathtime,
-- hospital_expire_flag and patients.dod.
WITH spec AS (
    SELECT CAST(name AS VARCHAR) AS name, CAST(kind AS VARCHAR) AS kind, CAST(horizon_days AS DOUBLE) AS horizon_days
    FROM (VALUES ${secondary_outcome_rows}) AS t(name, kind, horizon_days)
    WHERE name IS NOT NULL
)

, base AS (
    SELECT
        o.stay_id
        , o.days_to_death
        , adm.deathtime IS NOT NULL OR COALESCE(adm.hospital_expire_flag, 0) = 1 AS died_in_hospital
        , date_diff('second', ie.intime, COALESCE(adm.deathtime, adm.dischtime)) / 86400.0 AS days_to_hospital_end
    FROM study.outcome AS o
    INNER JOIN mimiciv_icu.icustays AS ie
        ON o.stay_id = ie.stay_id
    LEFT JOIN mimiciv_hosp.admissions AS adm
        ON ie.hadm_id = adm.hadm_id
)

SELECT
    s.name
    , b.stay_id
    , CASE
        WHEN s.kind = 'death_within' THEN CASE WHEN b.days_to_death <= s.horizon_days THEN 1 ELSE 0 END
        ELSE CASE WHEN b.died_in_hospital THEN 1 ELSE 0 END
    END AS event
    , CASE
        WHEN s.kind = 'death_within' THEN
            CASE WHEN b.days_to_death <= s.horizon_days THEN GREATEST(b.days_to_death, 0.0) ELSE s.horizon_days END
        ELSE GREATEST(b.days_to_hospital_end, 0.0)
    END AS time_days
FROM spec AS s
CROSS JOIN base AS b
