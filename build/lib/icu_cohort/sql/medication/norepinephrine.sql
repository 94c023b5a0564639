-- mimiciv_derived.norepinephrine: norepinephrine infusions (icu.inputevents itemid 221906) with start/end times,
-- rate and amount. Rate in mcg/kg/min (the rare rows charted in mg/kg/min are converted; those with patientweight = 1 are already mcg/kg/min, as in mimic-code).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/norepinephrine.sql.
SELECT
    stay_id
    , linkorderid
    , CASE
        WHEN rateuom = 'mg/kg/min' AND patientweight = 1 THEN rate
        WHEN rateuom = 'mg/kg/min' THEN rate * 1000.0
        ELSE rate
    END AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 221906  -- norepinephrine
