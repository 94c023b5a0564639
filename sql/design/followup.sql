-- design.followup: per stay of the study's cohort (design.cohort_stays, from cohort.parquet),
-- the times a target-trial analysis needs beyond the cohort's 28-day outcome, in hours from
-- ICU intime:
--   icu_out_hours  icustays.outtime - intime (after it no ICU dose can be observed)
--   death_hours    admissions.deathtime of the stay's admission when present, otherwise
--                  patients.dod (a DATE) taken at ${outcome_dod_hour_of_day}:00 of that day, the
--                  same death time as sql/cohort/outcome.sql; NULL when no death is known
--                  (MIMIC-IV follows dod for at least a year after discharge, so a NULL within
--                  the horizon means alive)
-- Source: MIMIC-IV v2.2 documentation of icustays.outtime, admissions.deathtime, patients.dod.
SELECT
    c.stay_id
    , date_diff('second', ie.intime, ie.outtime) / 3600.0 AS icu_out_hours
    , date_diff('second', ie.intime, COALESCE(
        adm.deathtime
        , CAST(pat.dod AS TIMESTAMP) + to_seconds(${outcome_dod_hour_of_day} * 3600.0)
    )) / 3600.0 AS death_hours
FROM design.cohort_stays AS c
INNER JOIN mimiciv_icu.icustays AS ie
    ON c.stay_id = ie.stay_id
LEFT JOIN mimiciv_hosp.admissions AS adm
    ON ie.hadm_id = adm.hadm_id
LEFT JOIN mimiciv_hosp.patients AS pat
    ON ie.subject_id = pat.subject_id
ORDER BY c.stay_id
