-- mimiciv_derived.suspicion_of_infection: for every antibiotic prescription
-- (mimiciv_derived.antibiotic), whether infection was suspected and when: a culture
-- (hosp.microbiologyevents, any specimen) taken in the 72 hours before the antibiotic
-- (suspected infection time = culture time) or in the 24 hours after it (suspected
-- infection time = antibiotic time). The earliest such culture is used. Cultures with only a
-- chart date match by date (3 days before / 1 day after).
-- positive_culture: the matched culture grew an organism; no organism, NEGATIVE (org_itemid
-- 90856) and CANCELLED (org_itemid 90760, or org_name 'CANCELLED') are not growth. Among
-- cultures taken at the same time the positive one is reported (then the lowest
-- micro_specimen_id, for determinism).
-- A cancelled culture is still a culture: the order was placed, which is what Seymour's
-- criterion counts (culture sampling/orders), so it still makes infection suspected, as in
-- mimic-code; only its "positive" flag changes.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/sepsis/suspicion_of_infection.sql as of commit
-- 86df38a (PR #2120, "do not treat CANCELLED cultures as positive", fixing issue #1677), after
-- Seymour CW et al., JAMA 2016;315(8):762-774 (Sepsis-3 suspected infection criteria).
-- Note (as mimic-code): each ICU stay of an admission gets the antibiotics that started
-- during it (stay_id NULL for antibiotics outside ICU stays; sepsis3.sql uses only rows with
-- a stay_id).
WITH ab_tbl AS MATERIALIZED (
    SELECT
        abx.subject_id
        , abx.hadm_id
        , abx.stay_id
        , abx.antibiotic
        , abx.starttime AS antibiotic_time
        -- date is used to match microbiology cultures with only a date available
        , CAST(abx.starttime AS DATE) AS antibiotic_date
        , abx.stoptime AS antibiotic_stoptime
        -- a unique identifier for each patient antibiotic
        , ROW_NUMBER() OVER (
            PARTITION BY abx.subject_id
            ORDER BY abx.starttime, abx.stoptime, abx.antibiotic, abx.route, abx.hadm_id, abx.stay_id
        ) AS ab_id
    FROM mimiciv_derived.antibiotic AS abx
)

, me AS (
    SELECT
        micro_specimen_id
        -- identical for all rows of the same micro_specimen_id; the aggregates collapse them
        , MAX(subject_id) AS subject_id
        , MAX(hadm_id) AS hadm_id
        , CAST(MAX(chartdate) AS DATE) AS chartdate
        , MAX(charttime) AS charttime
        , MAX(spec_type_desc) AS spec_type_desc
        -- not growth: no organism, NEGATIVE (90856) or CANCELLED (90760); a NULL org_itemid
        -- makes the test NULL, i.e. not positive, as in mimic-code
        , MAX(CASE
            WHEN org_name IS NOT NULL
                AND org_itemid NOT IN (90856, 90760)
                AND org_name != ''
                AND org_name != 'CANCELLED'
                THEN 1
            ELSE 0
        END) AS positiveculture
    FROM mimiciv_hosp.microbiologyevents
    GROUP BY micro_specimen_id
)

-- culture followed by an antibiotic within 72 hours
, me_then_ab AS (
    SELECT
        ab_tbl.subject_id
        , ab_tbl.ab_id
        , me72.micro_specimen_id
        , COALESCE(me72.charttime, CAST(me72.chartdate AS TIMESTAMP)) AS last72_charttime
        , me72.positiveculture AS last72_positiveculture
        , me72.spec_type_desc AS last72_specimen
        -- the earliest culture before this antibiotic: one row per antibiotic
        , ROW_NUMBER() OVER (
            PARTITION BY ab_tbl.subject_id, ab_tbl.ab_id
            ORDER BY
                me72.chartdate, me72.charttime NULLS LAST, me72.positiveculture DESC,
                me72.micro_specimen_id
        ) AS micro_seq
    FROM ab_tbl
    INNER JOIN me AS me72
        ON ab_tbl.subject_id = me72.subject_id
            AND (
                (
                    me72.charttime IS NOT NULL
                    AND ab_tbl.antibiotic_time > me72.charttime
                    AND ab_tbl.antibiotic_time <= me72.charttime + INTERVAL 72 HOUR
                )
                OR (
                    me72.charttime IS NULL
                    AND ab_tbl.antibiotic_date >= me72.chartdate
                    AND ab_tbl.antibiotic_date <= me72.chartdate + 3
                )
            )
)

-- antibiotic followed by a culture within 24 hours
, ab_then_me AS (
    SELECT
        ab_tbl.subject_id
        , ab_tbl.ab_id
        , me24.micro_specimen_id
        , COALESCE(me24.charttime, CAST(me24.chartdate AS TIMESTAMP)) AS next24_charttime
        , me24.positiveculture AS next24_positiveculture
        , me24.spec_type_desc AS next24_specimen
        , ROW_NUMBER() OVER (
            PARTITION BY ab_tbl.subject_id, ab_tbl.ab_id
            ORDER BY
                me24.chartdate, me24.charttime NULLS LAST, me24.positiveculture DESC,
                me24.micro_specimen_id
        ) AS micro_seq
    FROM ab_tbl
    INNER JOIN me AS me24
        ON ab_tbl.subject_id = me24.subject_id
            AND (
                (
                    me24.charttime IS NOT NULL
                    AND ab_tbl.antibiotic_time >= me24.charttime - INTERVAL 24 HOUR
                    AND ab_tbl.antibiotic_time < me24.charttime
                )
                OR (
                    me24.charttime IS NULL
                    AND ab_tbl.antibiotic_date >= me24.chartdate - 1
                    AND ab_tbl.antibiotic_date <= me24.chartdate
                )
            )
)

SELECT
    ab_tbl.subject_id
    , ab_tbl.stay_id
    , ab_tbl.hadm_id
    , ab_tbl.ab_id
    , ab_tbl.antibiotic
    , ab_tbl.antibiotic_time
    , CASE WHEN me2ab.last72_specimen IS NULL AND ab2me.next24_specimen IS NULL THEN 0 ELSE 1 END
        AS suspected_infection
    -- the culture time if the culture came first, else the antibiotic time
    , CASE
        WHEN me2ab.last72_specimen IS NULL AND ab2me.next24_specimen IS NULL THEN NULL
        ELSE COALESCE(me2ab.last72_charttime, ab_tbl.antibiotic_time)
    END AS suspected_infection_time
    , COALESCE(me2ab.last72_charttime, ab2me.next24_charttime) AS culture_time
    , COALESCE(me2ab.last72_specimen, ab2me.next24_specimen) AS specimen
    , COALESCE(me2ab.last72_positiveculture, ab2me.next24_positiveculture) AS positive_culture
FROM ab_tbl
LEFT JOIN ab_then_me AS ab2me
    ON ab_tbl.subject_id = ab2me.subject_id
        AND ab_tbl.ab_id = ab2me.ab_id
        AND ab2me.micro_seq = 1
LEFT JOIN me_then_ab AS me2ab
    ON ab_tbl.subject_id = me2ab.subject_id
        AND ab_tbl.ab_id = me2ab.ab_id
        AND me2ab.micro_seq = 1
