-- mimiciv_derived.dopamine: dopamine infusions (icu.inputevents itemid 221662) with start/end times,
-- rate and amount. Rate in mcg/kg/min.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/dopamine.sql.
SELECT
    stay_id
    , linkorderid
    , rate AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 221662  -- dopamine
