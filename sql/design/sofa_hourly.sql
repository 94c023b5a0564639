-- design.sofa_hourly: the time-varying severity of the censoring models: per stay of the
-- study's cohort and hour of mimiciv_derived.sofa, the 24-hour rolling SOFA (sofa_24hours,
-- worst organ scores over the 24 hours ending at the row's endtime) with the hour it is KNOWN
-- at: hour = endtime - intime, in hours (a value holds from then until the next row).
-- Source: mimiciv_derived.sofa (sql/score/sofa.sql: mimic-code score/sofa.sql).
SELECT
    s.stay_id
    , date_diff('second', ie.intime, s.endtime) / 3600.0 AS hour
    , CAST(s.sofa_24hours AS DOUBLE) AS sofa_24hours
FROM design.cohort_stays AS c
INNER JOIN mimiciv_icu.icustays AS ie
    ON c.stay_id = ie.stay_id
INNER JOIN mimiciv_derived.sofa AS s
    ON c.stay_id = s.stay_id
ORDER BY s.stay_id, s.endtime
