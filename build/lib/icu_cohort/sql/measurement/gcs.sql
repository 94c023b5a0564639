-- mimiciv_derived.gcs: Glasgow Coma Scale per ICU stay and charttime, with components.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/gcs.sql
-- (itemids 223901 motor, 223900 verbal, 220739 eyes; Teasdale G, Jennett B, Lancet 1974).
-- Rules, as in mimic-code:
--   * A verbal response charted as 'No Response-ETT' (intubated) is coded 0 and flagged
--     gcs_unable = 1; the total GCS of such a row is set to 15 ("the GCS before sedation",
--     as severity scores are meant to be collected), also when the verbal component is
--     missing now but was 'No Response-ETT' at the previous charting.
--   * A component missing at a charttime is carried forward from the previous charting of
--     the same stay when that one is less than 6 hours earlier; otherwise the normal value
--     (motor 6, verbal 5, eyes 4) is used. After an intubated charting, the current values
--     are used with normal defaults (previous values are not carried over).
-- The previous charting is found with LAG() instead of mimic-code's self-join on row number.
WITH base AS (
    SELECT
        ce.subject_id
        , ce.stay_id
        , ce.charttime
        , MAX(CASE WHEN ce.itemid = 223901 THEN ce.valuenum END) AS gcsmotor
        , MAX(CASE
            WHEN ce.itemid = 223900 AND ce.value = 'No Response-ETT' THEN 0
            WHEN ce.itemid = 223900 THEN ce.valuenum
        END) AS gcsverbal
        , MAX(CASE WHEN ce.itemid = 220739 THEN ce.valuenum END) AS gcseyes
        , MAX(CASE WHEN ce.itemid = 223900 AND ce.value = 'No Response-ETT' THEN 1 ELSE 0 END)
            AS endotrachflag
    FROM stage.chartevents AS ce
    WHERE ce.itemid IN (223900, 223901, 220739)
        AND ce.stay_id IS NOT NULL
    GROUP BY ce.subject_id, ce.stay_id, ce.charttime
)

, lagged AS (
    SELECT
        b.*
        , LAG(b.charttime) OVER w AS prev_charttime
        , LAG(b.gcsverbal) OVER w AS prev_verbal
        , LAG(b.gcsmotor) OVER w AS prev_motor
        , LAG(b.gcseyes) OVER w AS prev_eyes
    FROM base AS b
    WINDOW w AS (PARTITION BY b.stay_id ORDER BY b.charttime)
)

-- the previous charting only counts when it is less than 6 hours earlier
, gcs AS (
    SELECT
        l.subject_id
        , l.stay_id
        , l.charttime
        , l.gcsmotor
        , l.gcsverbal
        , l.gcseyes
        , l.endotrachflag
        , CASE WHEN l.prev_charttime > l.charttime - INTERVAL 6 HOUR THEN l.prev_verbal END AS gcsverbalprev
        , CASE WHEN l.prev_charttime > l.charttime - INTERVAL 6 HOUR THEN l.prev_motor END AS gcsmotorprev
        , CASE WHEN l.prev_charttime > l.charttime - INTERVAL 6 HOUR THEN l.prev_eyes END AS gcseyesprev
    FROM lagged AS l
)

SELECT
    subject_id
    , stay_id
    , charttime
    , CASE
        -- intubated (verbal 'No Response-ETT'): GCS set to 15
        WHEN gcsverbal = 0 THEN 15
        WHEN gcsverbal IS NULL AND gcsverbalprev = 0 THEN 15
        -- previously intubated but not now: do not carry the previous values over
        WHEN gcsverbalprev = 0
            THEN COALESCE(gcsmotor, 6) + COALESCE(gcsverbal, 5) + COALESCE(gcseyes, 4)
        -- otherwise carry forward the previous value, else assume normal
        ELSE COALESCE(gcsmotor, gcsmotorprev, 6)
            + COALESCE(gcsverbal, gcsverbalprev, 5)
            + COALESCE(gcseyes, gcseyesprev, 4)
    END AS gcs
    , COALESCE(gcsmotor, gcsmotorprev) AS gcs_motor
    , COALESCE(gcsverbal, gcsverbalprev) AS gcs_verbal
    , COALESCE(gcseyes, gcseyesprev) AS gcs_eyes
    , endotrachflag AS gcs_unable
FROM gcs
