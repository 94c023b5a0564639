-- study.admission_icd_group: for each hospital admission holding an ICU stay, the study's
-- ICD groups (study.icd_prefix) that one of its codes falls in: diagnoses
-- (hosp.diagnoses_icd) for the kinds 'criterion' and 'comorbidity', procedures
-- (hosp.procedures_icd) for the kinds 'procedure' and 'procedure_covariate'; icd_code LIKE prefix || '%' within the same
-- icd_version, and for a group with max_seq_num only a diagnosis at seq_num <= max_seq_num.
-- Implemented as an equi-join of every leading substring of each code with the prefix table
-- (no per-prefix LIKE scan).
-- Source: the study file's prefix lists; ICD codes as stored in MIMIC-IV (no dots).
WITH code AS (
    SELECT
        'diagnosis' AS source
        , d.hadm_id
        , d.icd_version
        , upper(replace(trim(d.icd_code), '.', '')) AS icd_code
        , MIN(d.seq_num) AS seq_num
    FROM mimiciv_hosp.diagnoses_icd AS d
    WHERE d.hadm_id IN (SELECT hadm_id FROM mimiciv_icu.icustays)
        AND d.icd_code IS NOT NULL
    GROUP BY d.hadm_id, d.icd_version, upper(replace(trim(d.icd_code), '.', ''))
    UNION ALL
    SELECT
        'procedure' AS source
        , p.hadm_id
        , p.icd_version
        , upper(replace(trim(p.icd_code), '.', '')) AS icd_code
        , MIN(p.seq_num) AS seq_num
    FROM mimiciv_hosp.procedures_icd AS p
    WHERE p.hadm_id IN (SELECT hadm_id FROM mimiciv_icu.icustays)
        AND p.icd_code IS NOT NULL
    GROUP BY p.hadm_id, p.icd_version, upper(replace(trim(p.icd_code), '.', ''))
)

, code_prefix AS (
    SELECT source, hadm_id, icd_version, icd_code, seq_num, CAST(unnest(range(1, length(icd_code) + 1)) AS INTEGER) AS k
    FROM code
)

SELECT DISTINCT
    p.hadm_id
    , g.kind
    , g.name
FROM code_prefix AS p
INNER JOIN study.icd_prefix AS g
    ON g.icd_version = p.icd_version
        AND g.prefix = left(p.icd_code, p.k)
        AND p.source = CASE WHEN g.kind IN ('procedure', 'procedure_covariate') THEN 'procedure' ELSE 'diagnosis' END
WHERE g.max_seq_num IS NULL
    OR p.seq_num <= g.max_seq_num
