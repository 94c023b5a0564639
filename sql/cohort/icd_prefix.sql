-- study.icd_prefix: the study's ICD code prefix lists as a table (kind, name, icd_version,
-- prefix, max_seq_num), from the study file: kind 'criterion' (an icd_diagnosis step of
-- cohort.criteria, name = the step), 'procedure' (an icd_procedure step), 'comorbidity'
-- (covariates.comorbidities, name = the covariate column) and 'procedure_covariate'
-- (covariates.procedures, name = the covariate column). Codes are stored without dots in
-- MIMIC-IV; a prefix matches every code that starts with it, within its ICD version;
-- max_seq_num (NULL: any) limits a diagnosis step to positions 1..max_seq_num.
-- Source: the study file (config/studies/<study>.yaml), rendered by icu_cohort.cohort.
SELECT
    CAST(kind AS VARCHAR) AS kind
    , CAST(name AS VARCHAR) AS name
    , CAST(icd_version AS SMALLINT) AS icd_version
    , CAST(prefix AS VARCHAR) AS prefix
    , CAST(max_seq_num AS INTEGER) AS max_seq_num
FROM (VALUES ${icd_prefix_rows}) AS t(kind, name, icd_version, prefix, max_seq_num)
WHERE prefix IS NOT NULL
