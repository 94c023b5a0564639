-- study.stay_exclusion: (stay_id, name) for every ICU stay whose hospital admission holds a
-- code of the exclusion step `name` (study file: cohort.exclusions; study.admission_icd_group
-- kind 'exclusion'). A stay can be in several steps; the attrition counts it at the first.
-- Source: the study file's exclusion lists.
SELECT DISTINCT
    ie.stay_id
    , g.name
FROM mimiciv_icu.icustays AS ie
INNER JOIN study.admission_icd_group AS g
    ON ie.hadm_id = g.hadm_id
WHERE g.kind = 'exclusion'
