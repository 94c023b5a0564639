-- mimiciv_derived.dobutamine: dobutamine infusions (icu.inputevents itemid 221653) with start/end times,
-- rate and amount. Rate in mcg/kg/min.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/dobutamine.sql.
SELECT
    stay_id
    , linkorderid
    , rate AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 221653  -- dobutamine
