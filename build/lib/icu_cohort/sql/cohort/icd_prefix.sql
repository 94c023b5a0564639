-- study.icd_prefix: the study's ICD code prefix lists as a table (kind, name, icd_version,
-- prefix), from the study file: kind 'delirium' (cohort.encephalopathy.delirium_icd),
-- 'exclusion' (cohort.exclusions, name = the step) and 'comorbidity'
-- (covariates.comorbidities, name = the covariate column). Codes are stored without dots in
-- MIMIC-IV; a prefix matches every code that starts with it, within its ICD version.
-- Source: the study file (config/studies/<study>.yaml), rendered by icu_cohort.cohort.
SELECT
    CAST(kind AS VARCHAR) AS kind
    , CAST(name AS VARCHAR) AS name
    , CAST(icd_version AS SMALLINT) AS icd_version
    , CAST(prefix AS VARCHAR) AS prefix
FROM (VALUES ${icd_prefix_rows}) AS t(kind, name, icd_version, prefix)
WHERE prefix IS NOT NULL
