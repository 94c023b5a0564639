-- mimiciv_derived.vitalsign: vital signs per ICU stay and charttime (heart rate, systolic /
-- diastolic / mean blood pressure (invasive or not), respiratory rate, temperature in deg C,
-- SpO2, charted glucose), each averaged over the rows charted at that time, with mimic-code's
-- plausibility ranges.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/vitalsign.sql.
SELECT
    ce.subject_id
    , ce.stay_id
    , ce.charttime
    , AVG(CASE WHEN itemid = 220045 AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS heart_rate
    , AVG(CASE WHEN itemid IN (220179, 220050, 225309) AND valuenum > 0 AND valuenum < 400 THEN valuenum END) AS sbp
    , AVG(CASE WHEN itemid IN (220180, 220051, 225310) AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS dbp
    , AVG(CASE WHEN itemid IN (220052, 220181, 225312) AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS mbp
    , AVG(CASE WHEN itemid = 220179 AND valuenum > 0 AND valuenum < 400 THEN valuenum END) AS sbp_ni
    , AVG(CASE WHEN itemid = 220180 AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS dbp_ni
    , AVG(CASE WHEN itemid = 220181 AND valuenum > 0 AND valuenum < 300 THEN valuenum END) AS mbp_ni
    , AVG(CASE WHEN itemid IN (220210, 224690) AND valuenum > 0 AND valuenum < 70 THEN valuenum END) AS resp_rate
    , ROUND(AVG(CASE
        -- Fahrenheit converted to Celsius
        WHEN itemid = 223761 AND valuenum > 70 AND valuenum < 120 THEN (valuenum - 32) / 1.8
        WHEN itemid = 223762 AND valuenum > 10 AND valuenum < 50 THEN valuenum
    END), 2) AS temperature
    , MAX(CASE WHEN itemid = 224642 THEN value END) AS temperature_site
    , AVG(CASE WHEN itemid = 220277 AND valuenum > 0 AND valuenum <= 100 THEN valuenum END) AS spo2
    , AVG(CASE WHEN itemid IN (225664, 220621, 226537) AND valuenum > 0 THEN valuenum END) AS glucose
FROM stage.chartevents AS ce
WHERE ce.stay_id IS NOT NULL
    AND ce.itemid IN (
        220045  -- heart rate
        , 225309, 225310, 225312  -- ART BP systolic / diastolic / mean
        , 220050, 220051, 220052  -- arterial blood pressure systolic / diastolic / mean
        , 220179, 220180, 220181  -- non-invasive blood pressure systolic / diastolic / mean
        , 220210, 224690  -- respiratory rate, respiratory rate (total)
        , 220277  -- SpO2, peripheral
        , 225664, 220621, 226537  -- glucose: finger stick, serum, whole blood
        , 223762, 223761  -- temperature Celsius, Fahrenheit
        , 224642  -- temperature site
    )
GROUP BY ce.subject_id, ce.stay_id, ce.charttime
