-- study.covariate_comorbidities: per stay of the final cohort, one 0/1 column per
-- comorbidity of the study (covariates.comorbidities: ${comorbidity_names}): 1 when the
-- stay's hospital admission holds a code of that group (study.admission_icd_group, kind
-- 'comorbidity').
-- Source: study file (covariates.comorbidities, ICD prefixes per version).
WITH flag AS (
    SELECT f.stay_id, g.name
    FROM study.final_stay AS f
    INNER JOIN study.admission_icd_group AS g
        ON f.hadm_id = g.hadm_id
    WHERE g.kind = 'comorbidity'
)

, wide AS (
    PIVOT flag ON name IN (${comorbidity_names}) USING count(*) GROUP BY stay_id
)

SELECT
    f.stay_id
    , CAST(COALESCE(COLUMNS(wide.* EXCLUDE (stay_id)), 0) > 0 AS INTEGER)
FROM study.final_stay AS f
LEFT JOIN wide
    ON f.stay_id = wide.stay_id
