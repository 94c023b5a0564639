-- mimiciv_derived.complete_blood_count: complete blood count from hosp.labevents, one row
-- per specimen (hematocrit, hemoglobin, MCH, MCHC, MCV, platelets, RBC, RDW, RDW-SD, WBC);
-- values <= 0 are dropped.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/complete_blood_count.sql.
SELECT
    MAX(subject_id) AS subject_id
    , MAX(hadm_id) AS hadm_id
    , MAX(charttime) AS charttime
    , le.specimen_id
    , MAX(CASE WHEN itemid = 51221 THEN valuenum END) AS hematocrit
    , MAX(CASE WHEN itemid = 51222 THEN valuenum END) AS hemoglobin
    , MAX(CASE WHEN itemid = 51248 THEN valuenum END) AS mch
    , MAX(CASE WHEN itemid = 51249 THEN valuenum END) AS mchc
    , MAX(CASE WHEN itemid = 51250 THEN valuenum END) AS mcv
    , MAX(CASE WHEN itemid = 51265 THEN valuenum END) AS platelet
    , MAX(CASE WHEN itemid = 51279 THEN valuenum END) AS rbc
    , MAX(CASE WHEN itemid = 51277 THEN valuenum END) AS rdw
    , MAX(CASE WHEN itemid = 52159 THEN valuenum END) AS rdwsd
    , MAX(CASE WHEN itemid = 51301 THEN valuenum END) AS wbc
FROM mimiciv_hosp.labevents AS le
WHERE le.itemid IN (51221, 51222, 51248, 51249, 51250, 51265, 51279, 51277, 52159, 51301)
    AND valuenum IS NOT NULL
    AND valuenum > 0
GROUP BY le.specimen_id
