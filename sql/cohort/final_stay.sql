-- study.final_stay: the ICU stays of the final cohort: every inclusion criterion of
-- study.stay_eligibility met (the first-ICU-stay criterion only when the study requires it:
-- ${require_first_icu_stay}) and no code of any exclusion step (study.stay_exclusion:
-- ${exclusion_names}) on the admission. The attrition table (icu_cohort.cohort) counts the same
-- criteria step by step and must end with this many stays.
-- Source: the study file (cohort section).
SELECT
    e.subject_id
    , e.hadm_id
    , e.stay_id
    , e.intime
    , e.outtime
FROM study.stay_eligibility AS e
WHERE e.adult
    AND (e.first_icu_stay OR NOT ${require_first_icu_stay})
    AND e.icu_los_ok
    AND e.sepsis3
    AND e.encephalopathy
    AND NOT EXISTS (
        SELECT 1
        FROM study.stay_exclusion AS x
        WHERE x.stay_id = e.stay_id
            AND x.name IN (${exclusion_names})
    )
