-- study.covariate_comorbidities: per stay of the final cohort, one 0/1 column per ICD-group
-- covariate of the study (${icd_covariate_names}): a comorbidity (covariates.comorbidities,
-- diagnoses) or a procedure group (covariates.procedures, e.g. mechanical thrombectomy): 1 when
-- the stay's hospital admission holds a code of that group (study.admission_icd_group, kind
-- 'comorbidity' or 'procedure_covariate').
-- Source: study file (covariates.comorbidities / covariates.procedures, ICD prefixes per version).
WITH flag AS (
    SELECT f.stay_id, g.name
    FROM study.final_stay AS f
    INNER JOIN study.admission_icd_group AS g
        ON f.hadm_id = g.hadm_id
    WHERE g.kind IN ('comorbidity', 'procedure_covariate')
)

, wide AS (
    PIVOT flag ON name IN (${icd_covariate_names}) USING count(*) GROUP BY stay_id
)

SELECT
    f.stay_id
    , CAST(COALESCE(COLUMNS(wide.* EXCLUDE (stay_id)), 0) > 0 AS INTEGER)
FROM study.final_stay AS f
LEFT JOIN wide
    ON f.stay_id = wide.stay_id
