-- mimiciv_derived.milrinone: milrinone infusions (icu.inputevents itemid 221986) with start/end times,
-- rate and amount. Rate in mcg/kg/min.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/milrinone.sql.
SELECT
    stay_id
    , linkorderid
    , rate AS vaso_rate
    , amount AS vaso_amount
    , starttime
    , endtime
FROM mimiciv_icu.inputevents
WHERE itemid = 221986  -- milrinone
