-- mimiciv_derived.phenylephrine: phenylephrine infusions (icu.inputevents itemid 221749) with start/end times,
-- rate and amount. Rate in mcg/kg/min (rows charted in mcg/min are divided by patientweight).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/phenylephrine.sql.
SELECT
    stay_id
    , linkorderid
    , CASE WHEN rateuom = 'mcg/min' THEN rate / patientweight ELSE rate END AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 221749  -- phenylephrine
