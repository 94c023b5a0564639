-- mimiciv_derived.vasopressin: vasopressin infusions (icu.inputevents itemid 222315) with start/end times,
-- rate and amount. Rate in units/hour (rows charted in units/min are multiplied by 60).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/vasopressin.sql.
SELECT
    stay_id
    , linkorderid
    , CASE WHEN rateuom = 'units/min' THEN rate * 60.0 ELSE rate END AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 222315  -- vasopressin
