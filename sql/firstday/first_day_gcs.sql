-- mimiciv_derived.first_day_gcs: the lowest GCS of the first ICU day (charted in
-- [intime - 6 h, intime + 24 h]) and the components of that charting, per ICU stay
-- (NULL when no GCS was charted). Intubated patients count as GCS 15 (mimiciv_derived.gcs).
-- Ties between equally low chartings: the LATEST charting gives the components, as in mimic-code
-- (ORDER BY gcs, charttime DESC, storetime DESC). mimiciv_derived.gcs has one row per stay and
-- charttime, so charttime alone makes the choice unique; storetime is not needed.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts_duckdb/firstday/first_day_gcs.sql (commit
-- 88c9104); Teasdale G, Jennett B. Lancet 1974;2(7872):81-84.
WITH gcs_final AS (
    SELECT
        ie.subject_id
        , ie.stay_id
        , g.gcs
        , g.gcs_motor
        , g.gcs_verbal
        , g.gcs_eyes
        , g.gcs_unable
        , ROW_NUMBER() OVER (PARTITION BY g.stay_id ORDER BY g.gcs, g.charttime DESC) AS gcs_seq
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN mimiciv_derived.gcs AS g
        ON ie.stay_id = g.stay_id
            AND g.charttime >= ie.intime - INTERVAL 6 HOUR
            AND g.charttime <= ie.intime + INTERVAL 1 DAY
)

SELECT
    ie.subject_id
    , ie.stay_id
    , gs.gcs AS gcs_min
    , gs.gcs_motor
    , gs.gcs_verbal
    , gs.gcs_eyes
    , gs.gcs_unable
FROM mimiciv_icu.icustays AS ie
LEFT JOIN gcs_final AS gs
    ON ie.stay_id = gs.stay_id
        AND gs.gcs_seq = 1
