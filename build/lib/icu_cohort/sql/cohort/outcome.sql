-- study.outcome: ${outcome_horizon_days}-day all-cause mortality from ICU admission, for every ICU stay.
--   death_time  admissions.deathtime of the stay's admission when present (in-hospital death,
--               exact); otherwise patients.dod, which is a DATE, taken at
--               ${outcome_dod_hour_of_day}:00 of that day (midday by default: the expected time
--               of a death known only to the day); NULL when the patient is not known to have
--               died (MIMIC-IV follows dod for at least a year after discharge, so survivors
--               are censored only at the horizon).
--   death_28d   1 when death_time - intime <= ${outcome_horizon_days} days (column name kept
--               whatever the horizon)
--   time_days   days from intime to death for those deaths, else the horizon
--               (${outcome_horizon_days}); a death time charted before intime gives 0.
-- Source: study file (outcome section); MIMIC-IV v2.2 documentation of admissions.deathtime
-- and patients.dod.
WITH d AS (
    SELECT
        ie.stay_id
        , ie.intime
        , adm.deathtime
        , pat.dod
        , COALESCE(
            adm.deathtime
            , CAST(pat.dod AS TIMESTAMP) + to_seconds(${outcome_dod_hour_of_day} * 3600.0)
        ) AS death_time
    FROM mimiciv_icu.icustays AS ie
    LEFT JOIN mimiciv_hosp.admissions AS adm
        ON ie.hadm_id = adm.hadm_id
    LEFT JOIN mimiciv_hosp.patients AS pat
        ON ie.subject_id = pat.subject_id
)

, t AS (
    SELECT
        *
        , CASE
            WHEN deathtime IS NOT NULL THEN 'deathtime'
            WHEN dod IS NOT NULL THEN 'dod'
        END AS death_source
        , date_diff('second', intime, death_time) / 86400.0 AS days_to_death
    FROM d
)

SELECT
    stay_id
    , death_time
    , death_source
    , days_to_death
    , CASE WHEN days_to_death <= ${outcome_horizon_days} THEN 1 ELSE 0 END AS death_28d
    , CASE
        WHEN days_to_death <= ${outcome_horizon_days} THEN GREATEST(days_to_death, 0.0)
        ELSE CAST(${outcome_horizon_days} AS DOUBLE)
    END AS time_days
FROM t
