-- study.admission_icd_group: for each hospital admission holding an ICU stay, the study's
-- ICD groups (study.icd_prefix: delirium, exclusion steps, comorbidities) that one of its
-- diagnoses (hosp.diagnoses_icd) falls in: icd_code LIKE prefix || '%' within the same
-- icd_version. Implemented as an equi-join of every leading substring of each code with
-- the prefix table (no per-prefix LIKE scan).
-- Source: the study file's prefix lists; ICD codes as stored in MIMIC-IV (no dots).
WITH dx AS (
    SELECT DISTINCT
        d.hadm_id
        , d.icd_version
        , upper(replace(trim(d.icd_code), '.', '')) AS icd_code
    FROM mimiciv_hosp.diagnoses_icd AS d
    WHERE d.hadm_id IN (SELECT hadm_id FROM mimiciv_icu.icustays)
        AND d.icd_code IS NOT NULL
)

, dx_prefix AS (
    SELECT hadm_id, icd_version, icd_code, CAST(unnest(range(1, length(icd_code) + 1)) AS INTEGER) AS k
    FROM dx
)

SELECT DISTINCT
    p.hadm_id
    , g.kind
    , g.name
FROM dx_prefix AS p
INNER JOIN study.icd_prefix AS g
    ON g.icd_version = p.icd_version
        AND g.prefix = left(p.icd_code, p.k)
