-- mimiciv_derived.age: age in years at hospital admission, one row per admission.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/demographics/age.sql.
-- MIMIC-IV shifts dates per patient; patients.anchor_age is the age in the shifted year
-- patients.anchor_year, so age = anchor_age + (year(admittime) - anchor_year)
-- (mimic-code: DATETIME_DIFF(admittime, DATETIME(anchor_year, 1, 1), YEAR) + anchor_age,
-- which counts calendar-year boundaries, i.e. the same difference of years).
SELECT
    ad.subject_id
    , ad.hadm_id
    , ad.admittime
    , pa.anchor_age
    , pa.anchor_year
    , pa.anchor_age + (year(ad.admittime) - pa.anchor_year) AS age
FROM mimiciv_hosp.admissions AS ad
INNER JOIN mimiciv_hosp.patients AS pa
    ON ad.subject_id = pa.subject_id
