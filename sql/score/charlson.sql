-- Charlson comorbidity index, one row per hospital admission (mimiciv_hosp.admissions.hadm_id).
--
-- What it computes: the 17 Charlson comorbidity flags from the admission's ICD-9-CM and ICD-10
-- diagnosis codes, an age score, and the weighted index
--     charlson_comorbidity_index = age_score + sum(weight x flag)
-- with the hierarchies "severe liver disease supersedes mild", "diabetes with chronic
-- complications supersedes diabetes without", "metastatic solid tumour supersedes any
-- malignancy" (only the heavier of each pair is counted; both flags are still reported).
--
-- Sources:
--   * Definition followed: MIT-LCP mimic-code, mimic-iv/concepts/comorbidity/charlson.sql
--     as of commit 2343210 of mimic-iv/concepts_duckdb/comorbidity/charlson.sql (same output
--     column names, same code lists, same age score, same weights).
--   * Charlson ME, Pompei P, Ales KL, MacKenzie CR. A new method of classifying prognostic
--     comorbidity in longitudinal studies: development and validation. J Chronic Dis.
--     1987;40(5):373-83.  (comorbidities and weights)
--   * Charlson M, Szatrowski TP, Peterson J, Gold J. Validation of a combined comorbidity index.
--     J Clin Epidemiol. 1994;47(11):1245-51.  (age added to the index: one point for each decade
--     from 50, i.e. <50: 0, 50-59: 1, 60-69: 2, 70-79: 3, >=80: 4, as mimic-code now scores it;
--     mimic-code's earlier bands <=50/51-60/61-70/71-80 gave ages 50, 60, 70, 80 a point too few)
--   * Quan H, Sundararajan V, Halfon P, et al. Coding algorithms for defining comorbidities in
--     ICD-9-CM and ICD-10 administrative data. Med Care. 2005;43(11):1130-9, Table 1
--     (enhanced ICD-9-CM and ICD-10 code lists).
--
-- Notes:
--   * Codes are stored without dots in MIMIC-IV ('I509', '4280'); each list entry below is a
--     code prefix, or an inclusive prefix range 'FROM-TO' (both ends of the same length),
--     matched against the first characters of icd_code within the same icd_version.
--   * A range is a range of NUMBERS after the letters the two ends share ('C' in 'C77-C80'):
--     the characters compared must be digits there. A plain string BETWEEN would also take
--     the ICD-10-CM categories with a letter in third place, which sort between digits:
--     C7A/C7B (malignant and secondary neuroendocrine tumours) inside 'C77-C80' and C4A (Merkel
--     cell carcinoma) inside 'C45-C58'. Neither is in Quan's lists (WHO ICD-10 has no such
--     categories) nor in mimic-code's (IN ('C77','C78','C79','C80'); C45-C49 and C50-C58), so
--     neither counts here. ICD-9 codes shorter than the range ends are still compared by
--     their digits, as in mimic-code: 179, 181, 185, 193 (no fourth digit) lie in 174.0-195.8.
--   * Earlier mimic-code versions had the typo 'E10l' (letter l) in the ICD-10 "diabetes
--     without chronic complication" list; Quan 2005 lists E10.1, used here and in mimic-code's
--     current duckdb copy.
--   * Age at admission = anchor_age + (year(admittime) - anchor_year), which equals mimic-code's
--     mimiciv_derived.age; computed here from patients so this file needs no derived table.
--   * Admissions without any diagnosis row get all flags 0 (index = age score), as in mimic-code.

CREATE OR REPLACE TABLE mimiciv_derived.charlson AS
WITH
-- Quan et al. 2005 code lists, one row per (comorbidity, ICD version).
quan_code_lists (comorbidity, icd_version, code_entries) AS (
    VALUES
    ('myocardial_infarct', 9,  ['410', '412']),
    ('myocardial_infarct', 10, ['I21', 'I22', 'I252']),

    ('congestive_heart_failure', 9,  ['428', '39891', '40201', '40211', '40291', '40401',
                                      '40403', '40411', '40413', '40491', '40493', '4254-4259']),
    ('congestive_heart_failure', 10, ['I43', 'I50', 'I099', 'I110', 'I130', 'I132', 'I255',
                                      'I420', 'I425-I429', 'P290']),

    ('peripheral_vascular_disease', 9,  ['440', '441', '0930', '4373', '4471', '5571', '5579',
                                         'V434', '4431-4439']),
    ('peripheral_vascular_disease', 10, ['I70', 'I71', 'I731', 'I738', 'I739', 'I771', 'I790',
                                         'I792', 'K551', 'K558', 'K559', 'Z958', 'Z959']),

    ('cerebrovascular_disease', 9,  ['430-438', '36234']),
    ('cerebrovascular_disease', 10, ['G45', 'G46', 'I60-I69', 'H340']),

    ('dementia', 9,  ['290', '2941', '3312']),
    ('dementia', 10, ['F00', 'F01', 'F02', 'F03', 'G30', 'F051', 'G311']),

    ('chronic_pulmonary_disease', 9,  ['490-505', '4168', '4169', '5064', '5081', '5088']),
    ('chronic_pulmonary_disease', 10, ['J40-J47', 'J60-J67', 'I278', 'I279', 'J684', 'J701',
                                       'J703']),

    ('rheumatic_disease', 9,  ['725', '4465', '7100-7104', '7140-7142', '7148']),
    ('rheumatic_disease', 10, ['M05', 'M06', 'M32', 'M33', 'M34', 'M315', 'M351', 'M353',
                               'M360']),

    ('peptic_ulcer_disease', 9,  ['531-534']),
    ('peptic_ulcer_disease', 10, ['K25-K28']),

    ('mild_liver_disease', 9,  ['570', '571', '0706', '0709', '5733', '5734', '5738', '5739',
                                'V427', '07022', '07023', '07032', '07033', '07044', '07054']),
    ('mild_liver_disease', 10, ['B18', 'K73', 'K74', 'K700-K703', 'K709', 'K713-K715', 'K717',
                                'K760', 'K762-K764', 'K768', 'K769', 'Z944']),

    ('diabetes_without_cc', 9,  ['2500-2503', '2508', '2509']),
    ('diabetes_without_cc', 10, ['E100', 'E101', 'E106', 'E108', 'E109',
                                 'E110', 'E111', 'E116', 'E118', 'E119',
                                 'E120', 'E121', 'E126', 'E128', 'E129',
                                 'E130', 'E131', 'E136', 'E138', 'E139',
                                 'E140', 'E141', 'E146', 'E148', 'E149']),

    ('diabetes_with_cc', 9,  ['2504-2507']),
    ('diabetes_with_cc', 10, ['E102-E105', 'E107', 'E112-E115', 'E117', 'E122-E125', 'E127',
                              'E132-E135', 'E137', 'E142-E145', 'E147']),

    ('paraplegia', 9,  ['342', '343', '3341', '3440-3446', '3449']),
    ('paraplegia', 10, ['G81', 'G82', 'G041', 'G114', 'G801', 'G802', 'G830-G834', 'G839']),

    ('renal_disease', 9,  ['582', '585', '586', 'V56', '5880', 'V420', 'V451', '5830-5837',
                           '40301', '40311', '40391', '40402', '40403', '40412', '40413',
                           '40492', '40493']),
    ('renal_disease', 10, ['N18', 'N19', 'I120', 'I131', 'N032-N037', 'N052-N057', 'N250',
                           'Z490-Z492', 'Z940', 'Z992']),

    ('malignant_cancer', 9,  ['140-172', '1740-1958', '200-208', '2386']),
    ('malignant_cancer', 10, ['C00-C26', 'C30-C34', 'C37-C41', 'C43', 'C45-C58', 'C60-C76',
                              'C81-C85', 'C88', 'C90-C97']),

    ('severe_liver_disease', 9,  ['4560-4562', '5722-5728']),
    ('severe_liver_disease', 10, ['I850', 'I859', 'I864', 'I982', 'K704', 'K711', 'K721',
                                  'K729', 'K765', 'K766', 'K767']),

    ('metastatic_solid_tumor', 9,  ['196-199']),
    ('metastatic_solid_tumor', 10, ['C77-C80']),

    ('aids', 9,  ['042-044']),
    ('aids', 10, ['B20', 'B21', 'B22', 'B24'])
),

-- One row per list entry: a single prefix becomes the range [prefix, prefix]; letters_len is
-- the length of the letters both ends start with (0 for ICD-9 '430-438', 1 for 'C77-C80').
quan_code_entries AS (
    SELECT comorbidity, icd_version, unnest(code_entries) AS entry
    FROM quan_code_lists
),

quan_code_ranges AS (
    SELECT
        comorbidity,
        icd_version,
        code_from,
        code_to,
        length(regexp_extract(code_from, '^[A-Z]*')) AS letters_len
    FROM (
        SELECT
            comorbidity,
            icd_version,
            split_part(entry, '-', 1) AS code_from,
            COALESCE(NULLIF(split_part(entry, '-', 2), ''), split_part(entry, '-', 1)) AS code_to
        FROM quan_code_entries
    ) AS bounds
),

-- Map each distinct code once (tens of thousands), not each diagnosis row (millions).
distinct_codes AS (
    SELECT DISTINCT icd_version, icd_code
    FROM mimiciv_hosp.diagnoses_icd
    WHERE icd_code IS NOT NULL
),

code_comorbidity AS (
    SELECT DISTINCT c.icd_version, c.icd_code, r.comorbidity
    FROM distinct_codes AS c
    INNER JOIN quan_code_ranges AS r
        ON c.icd_version = r.icd_version
        AND left(trim(c.icd_code), length(r.code_from)) BETWEEN r.code_from AND r.code_to
        -- a range compares digits only: 'C7A' sorts between 'C77' and 'C80' but is not in it
        AND (
            r.code_from = r.code_to
            OR regexp_full_match(
                substr(left(trim(c.icd_code), length(r.code_from)), r.letters_len + 1), '[0-9]+'
            )
        )
),

admission_comorbidity AS (
    SELECT DISTINCT dx.hadm_id, cc.comorbidity
    FROM mimiciv_hosp.diagnoses_icd AS dx
    INNER JOIN code_comorbidity AS cc
        ON dx.icd_version = cc.icd_version
        AND dx.icd_code = cc.icd_code
),

-- Flags 0/1 per admission; admissions with no qualifying code get 0 everywhere.
comorbidity_flags AS (
    SELECT
        adm.hadm_id,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'myocardial_infarct') > 0 AS myocardial_infarct,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'congestive_heart_failure') > 0
            AS congestive_heart_failure,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'peripheral_vascular_disease') > 0
            AS peripheral_vascular_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'cerebrovascular_disease') > 0
            AS cerebrovascular_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'dementia') > 0 AS dementia,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'chronic_pulmonary_disease') > 0
            AS chronic_pulmonary_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'rheumatic_disease') > 0 AS rheumatic_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'peptic_ulcer_disease') > 0
            AS peptic_ulcer_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'mild_liver_disease') > 0 AS mild_liver_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'diabetes_without_cc') > 0 AS diabetes_without_cc,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'diabetes_with_cc') > 0 AS diabetes_with_cc,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'paraplegia') > 0 AS paraplegia,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'renal_disease') > 0 AS renal_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'malignant_cancer') > 0 AS malignant_cancer,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'severe_liver_disease') > 0
            AS severe_liver_disease,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'metastatic_solid_tumor') > 0
            AS metastatic_solid_tumor,
        COUNT(*) FILTER (WHERE ac.comorbidity = 'aids') > 0 AS aids
    FROM mimiciv_hosp.admissions AS adm
    LEFT JOIN admission_comorbidity AS ac
        ON adm.hadm_id = ac.hadm_id
    GROUP BY adm.hadm_id
),

-- Age score (Charlson 1994, as in mimic-code): <50: 0, 50-59: 1, 60-69: 2, 70-79: 3, >=80: 4.
age_at_admission AS (
    SELECT
        adm.subject_id,
        adm.hadm_id,
        pat.anchor_age + (year(adm.admittime) - pat.anchor_year) AS age
    FROM mimiciv_hosp.admissions AS adm
    LEFT JOIN mimiciv_hosp.patients AS pat
        ON adm.subject_id = pat.subject_id
),

age_score AS (
    SELECT
        subject_id,
        hadm_id,
        CASE
            WHEN age IS NULL THEN NULL
            WHEN age < 50 THEN 0
            WHEN age < 60 THEN 1
            WHEN age < 70 THEN 2
            WHEN age < 80 THEN 3
            ELSE 4
        END AS age_score
    FROM age_at_admission
),

flags_as_integers AS (
    SELECT
        hadm_id,
        myocardial_infarct::INTEGER AS myocardial_infarct,
        congestive_heart_failure::INTEGER AS congestive_heart_failure,
        peripheral_vascular_disease::INTEGER AS peripheral_vascular_disease,
        cerebrovascular_disease::INTEGER AS cerebrovascular_disease,
        dementia::INTEGER AS dementia,
        chronic_pulmonary_disease::INTEGER AS chronic_pulmonary_disease,
        rheumatic_disease::INTEGER AS rheumatic_disease,
        peptic_ulcer_disease::INTEGER AS peptic_ulcer_disease,
        mild_liver_disease::INTEGER AS mild_liver_disease,
        diabetes_without_cc::INTEGER AS diabetes_without_cc,
        diabetes_with_cc::INTEGER AS diabetes_with_cc,
        paraplegia::INTEGER AS paraplegia,
        renal_disease::INTEGER AS renal_disease,
        malignant_cancer::INTEGER AS malignant_cancer,
        severe_liver_disease::INTEGER AS severe_liver_disease,
        metastatic_solid_tumor::INTEGER AS metastatic_solid_tumor,
        aids::INTEGER AS aids
    FROM comorbidity_flags
)

SELECT
    ag.subject_id,
    ag.hadm_id,
    ag.age_score,
    f.myocardial_infarct,
    f.congestive_heart_failure,
    f.peripheral_vascular_disease,
    f.cerebrovascular_disease,
    f.dementia,
    f.chronic_pulmonary_disease,
    f.rheumatic_disease,
    f.peptic_ulcer_disease,
    f.mild_liver_disease,
    f.diabetes_without_cc,
    f.diabetes_with_cc,
    f.paraplegia,
    f.renal_disease,
    f.malignant_cancer,
    f.severe_liver_disease,
    f.metastatic_solid_tumor,
    f.aids,
    -- Weights of Charlson 1987: 1 point each unless stated; hierarchical pairs count once.
    ag.age_score
        + f.myocardial_infarct
        + f.congestive_heart_failure
        + f.peripheral_vascular_disease
        + f.cerebrovascular_disease
        + f.dementia
        + f.chronic_pulmonary_disease
        + f.rheumatic_disease
        + f.peptic_ulcer_disease
        + greatest(1 * f.mild_liver_disease, 3 * f.severe_liver_disease)
        + greatest(1 * f.diabetes_without_cc, 2 * f.diabetes_with_cc)
        + greatest(2 * f.malignant_cancer, 6 * f.metastatic_solid_tumor)
        + 2 * f.paraplegia
        + 2 * f.renal_disease
        + 6 * f.aids
        AS charlson_comorbidity_index
FROM age_score AS ag
INNER JOIN flags_as_integers AS f
    ON ag.hadm_id = f.hadm_id
ORDER BY ag.hadm_id;
