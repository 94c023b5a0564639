-- mimiciv_derived.sofa: the Sequential Organ Failure Assessment score per ICU stay and hour,
-- over every hour of every ICU stay: each organ scored over the hour (respiration:
-- PaO2/FiO2 split by invasive ventilation; coagulation: platelets; liver: bilirubin;
-- cardiovascular: MAP and vasopressor rates in mcg/kg/min; CNS: GCS; renal: creatinine and
-- 24-hour urine output), then the worst value of each organ over the last 24 hours
-- (*_24hours) and their sum sofa_24hours (a missing organ counts 0).
-- Sources: Vincent J-L et al., Intensive Care Med 1996;22:707-710 (SOFA); MIT-LCP mimic-code,
-- mimic-iv/concepts/score/sofa.sql (thresholds, data sources, hourly clock, 24-hour
-- rolling window, output columns) and demographics/icustay_hourly.sql (the clock: hours
-- -24 .. ceil(ICU length of stay), rows kept from hour 0).
--
-- Differences from mimic-code, for speed; the values are the same:
--   * Measurements are placed in their hour by arithmetic (hour = ceil((charttime -
--     hour-0 end) / 1 h), i.e. the interval (endtime - 1 h, endtime]) instead of a range join
--     to mimic-code's icustay_hourly table; infusions are expanded to the hour ends they
--     cover (starttime < endtime <= infusion end), as mimic-code's join condition.
--   * All measurements of an hour are aggregated in one GROUP BY over the grid and every
--     measurement row (a UNION ALL of the sources, each row placed in its hour) instead of
--     one aggregate per source LEFT JOINed to the grid: the same MIN/MAX per stay and hour,
--     with one spillable aggregate in place of eight hash tables held at once (this lets the
--     concept run within a 2.5 GB DuckDB memory limit on a full MIMIC-IV-sized set).
--   * The 24-hour worst score of each organ comes from one BIT_OR window over a bit mask of
--     the six scores instead of six MAX windows (score/sofa_organ_scores.sql says why it is
--     the same maximum).
--   * The clock: hour 0 ends at the first charted heart rate rounded up to the hour
--     (mimiciv_derived.icustay_times); for a stay without any heart rate the ICU intime is
--     used instead (mimic-code would give such a stay no rows at all). The last hour is that
--     of the last heart rate or of the ICU outtime, whichever is later (mimic-code: the last
--     heart rate only; in MIMIC-IV heart rate is charted to the end of the stay, so this only
--     matters for sparsely charted data).
WITH clock AS (
    SELECT
        ie.stay_id
        , ie.hadm_id
        , ie.subject_id
        , COALESCE(it.intime_hr, ie.intime) AS intime_hr
        , GREATEST(COALESCE(it.outtime_hr, ie.outtime), ie.outtime) AS outtime_hr
    FROM mimiciv_icu.icustays AS ie
    LEFT JOIN mimiciv_derived.icustay_times AS it
        ON ie.stay_id = it.stay_id
)

, clock0 AS (
    SELECT
        *
        -- end of hour 0: the first heart rate rounded up to the hour
        , CASE
            WHEN date_trunc('hour', intime_hr) = intime_hr THEN intime_hr
            ELSE date_trunc('hour', intime_hr) + INTERVAL 1 HOUR
        END AS endtime0
    FROM clock
)

, co AS (
    -- the hours computed: -24 (for the 24-hour rolling maxima of the first rows) to the
    -- last hour of the stay; rows are kept from hour 0
    SELECT
        stay_id
        , hadm_id
        , subject_id
        , endtime0
        , 0 AS hr_first
        , CAST(ceil(date_diff('second', intime_hr, outtime_hr) / 3600.0) AS INTEGER) AS hr_last
        , -24 AS hr_lo
        -- measurements in hours hr_lo .. hr_last lie in (lo_time, hi_time]
        , endtime0 + to_hours(-25) AS lo_time
        , endtime0 + to_hours(CAST(ceil(date_diff('second', intime_hr, outtime_hr) / 3600.0) AS INTEGER)) AS hi_time
    FROM clock0
    WHERE outtime_hr IS NOT NULL
)

, grid AS (
    SELECT
        stay_id
        , hr
        , endtime0 + to_hours(hr) AS endtime
        , hr_first
    FROM (
        SELECT stay_id, endtime0, hr_first, CAST(unnest(range(hr_lo, hr_last + 1)) AS INTEGER) AS hr
        FROM co
    )
)

, measured AS (
    -- one row per hour of the grid, and one row per measurement placed in its hour
    -- (hr = ceil((charttime - endtime0) / 1 h)); every branch lists the same columns in the
    -- same order (a plain UNION ALL, which PostgreSQL and BigQuery also run). Every row lies
    -- in hr_lo .. hr_last because of the (lo_time, hi_time] conditions, so each measurement
    -- meets a grid row below
    SELECT
        stay_id
        , hr
        , endtime
        , hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM grid

    UNION ALL
    -- arterial blood gases, split by invasive ventilation at the time of the gas
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, bg.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CASE WHEN vd.stay_id IS NULL THEN bg.pao2fio2ratio END AS pao2fio2ratio_novent
        , CASE WHEN vd.stay_id IS NOT NULL THEN bg.pao2fio2ratio END AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.bg AS bg
        ON co.subject_id = bg.subject_id
            AND bg.charttime > co.lo_time
            AND bg.charttime <= co.hi_time
            AND bg.specimen = 'ART.'
    LEFT JOIN mimiciv_derived.ventilation AS vd
        ON co.stay_id = vd.stay_id
            AND bg.charttime >= vd.starttime
            AND bg.charttime <= vd.endtime
            AND vd.ventilation_status = 'InvasiveVent'

    UNION ALL
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, v.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , v.mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.vitalsign AS v
        ON co.stay_id = v.stay_id
            AND v.charttime > co.lo_time
            AND v.charttime <= co.hi_time

    UNION ALL
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, g.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , g.gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.gcs AS g
        ON co.stay_id = g.stay_id
            AND g.charttime > co.lo_time
            AND g.charttime <= co.hi_time

    UNION ALL
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, enz.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , enz.bilirubin_total AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.enzyme AS enz
        ON co.hadm_id = enz.hadm_id
            AND enz.charttime > co.lo_time
            AND enz.charttime <= co.hi_time

    UNION ALL
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, chem.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , chem.creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.chemistry AS chem
        ON co.hadm_id = chem.hadm_id
            AND chem.charttime > co.lo_time
            AND chem.charttime <= co.hi_time

    UNION ALL
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, cbc.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , cbc.platelet
    FROM co
    INNER JOIN mimiciv_derived.complete_blood_count AS cbc
        ON co.hadm_id = cbc.hadm_id
            AND cbc.charttime > co.lo_time
            AND cbc.charttime <= co.hi_time

    UNION ALL
    -- 24-hour urine output, scaled to 24 h, when the charted volumes cover 22 to 30 hours
    SELECT
        co.stay_id
        , CAST(ceil(date_diff('second', co.endtime0, u.charttime) / 3600.0) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , CAST(NULL AS VARCHAR) AS agent
        , CAST(NULL AS DOUBLE) AS vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CASE
            WHEN u.uo_tm_24hr >= 22 AND u.uo_tm_24hr <= 30 THEN u.urineoutput_24hr / u.uo_tm_24hr * 24
        END AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM co
    INNER JOIN mimiciv_derived.urine_output_rate AS u
        ON co.stay_id = u.stay_id
            AND u.charttime > co.lo_time
            AND u.charttime <= co.hi_time

    UNION ALL
    -- vasopressor infusions, one row per hour end covered: starttime < endtime(hr) <= infusion end
    SELECT
        stay_id
        , CAST(unnest(range(hr_from, hr_to + 1)) AS INTEGER) AS hr
        , CAST(NULL AS TIMESTAMP) AS endtime
        , CAST(NULL AS INTEGER) AS hr_first
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_novent
        , CAST(NULL AS DOUBLE) AS pao2fio2ratio_vent
        , agent
        , vaso_rate
        , CAST(NULL AS DOUBLE) AS mbp
        , CAST(NULL AS DOUBLE) AS gcs
        , CAST(NULL AS DOUBLE) AS uo_24hr
        , CAST(NULL AS DOUBLE) AS bilirubin
        , CAST(NULL AS DOUBLE) AS creatinine
        , CAST(NULL AS DOUBLE) AS platelet
    FROM (
        SELECT
            co.stay_id
            , v.agent
            , v.vaso_rate
            , GREATEST(co.hr_lo, CAST(floor(date_diff('second', co.endtime0, v.starttime) / 3600.0) AS INTEGER) + 1)
                AS hr_from
            , LEAST(co.hr_last, CAST(floor(date_diff('second', co.endtime0, v.endtime) / 3600.0) AS INTEGER))
                AS hr_to
        FROM co
        INNER JOIN mimiciv_derived.vasoactive_infusion AS v
            ON co.stay_id = v.stay_id
                AND v.endtime > co.lo_time
                AND v.starttime < co.hi_time
        WHERE v.agent IN ('epinephrine', 'norepinephrine', 'dopamine', 'dobutamine')
    )
    WHERE hr_from <= hr_to
)

, scorecomp AS (
    -- per stay and hour: the grid's clock (one grid row per hour, so MAX picks it) and the
    -- worst value of each measurement
    SELECT
        stay_id
        , hr
        , MAX(hr_first) AS hr_first
        , MAX(endtime) - INTERVAL 1 HOUR AS starttime
        , MAX(endtime) AS endtime
        , MIN(pao2fio2ratio_novent) AS pao2fio2ratio_novent
        , MIN(pao2fio2ratio_vent) AS pao2fio2ratio_vent
        , MAX(CASE WHEN agent = 'epinephrine' THEN vaso_rate END) AS rate_epinephrine
        , MAX(CASE WHEN agent = 'norepinephrine' THEN vaso_rate END) AS rate_norepinephrine
        , MAX(CASE WHEN agent = 'dopamine' THEN vaso_rate END) AS rate_dopamine
        , MAX(CASE WHEN agent = 'dobutamine' THEN vaso_rate END) AS rate_dobutamine
        , MIN(mbp) AS meanbp_min
        , MIN(gcs) AS gcs_min
        , MAX(uo_24hr) AS uo_24hr
        , MAX(bilirubin) AS bilirubin_max
        , MAX(creatinine) AS creatinine_max
        , MIN(platelet) AS platelet_min
    FROM measured
    GROUP BY stay_id, hr
)

, scorecalc AS (
    -- a component is NULL when its data are missing (counted 0 in the totals);
    -- thresholds: score/sofa_organ_scores.sql
    SELECT
        scorecomp.*
        , sofa_respiration(pao2fio2ratio_vent, pao2fio2ratio_novent) AS respiration
        , sofa_coagulation(platelet_min) AS coagulation
        , sofa_liver(bilirubin_max) AS liver
        , sofa_cardiovascular(meanbp_min, rate_dopamine, rate_dobutamine, rate_epinephrine, rate_norepinephrine)
            AS cardiovascular
        , sofa_cns(gcs_min) AS cns
        , sofa_renal(creatinine_max, uo_24hr) AS renal
    FROM scorecomp
)

, score_levels AS (
    -- the six organ scores as one bit mask (score/sofa_organ_scores.sql), ORed over the last
    -- 24 hours (this hour and the 23 before)
    SELECT
        s.*
        , BIT_OR(
            sofa_level_mask(respiration, 0) | sofa_level_mask(coagulation, 1) | sofa_level_mask(liver, 2)
            | sofa_level_mask(cardiovascular, 3) | sofa_level_mask(cns, 4) | sofa_level_mask(renal, 5)
        ) OVER w AS levels_24hours
    FROM scorecalc AS s
    WINDOW w AS (PARTITION BY stay_id ORDER BY hr ROWS BETWEEN 23 PRECEDING AND CURRENT ROW)
)

, score_final AS (
    SELECT
        s.*
        , sofa_level_of(levels_24hours, 0) AS respiration_24hours
        , sofa_level_of(levels_24hours, 1) AS coagulation_24hours
        , sofa_level_of(levels_24hours, 2) AS liver_24hours
        , sofa_level_of(levels_24hours, 3) AS cardiovascular_24hours
        , sofa_level_of(levels_24hours, 4) AS cns_24hours
        , sofa_level_of(levels_24hours, 5) AS renal_24hours
    FROM score_levels AS s
)

SELECT
    stay_id
    , hr
    , starttime
    , endtime
    , pao2fio2ratio_novent
    , pao2fio2ratio_vent
    , rate_epinephrine
    , rate_norepinephrine
    , rate_dopamine
    , rate_dobutamine
    , meanbp_min
    , gcs_min
    , uo_24hr
    , bilirubin_max
    , creatinine_max
    , platelet_min
    , respiration
    , coagulation
    , liver
    , cardiovascular
    , cns
    , renal
    , respiration_24hours
    , coagulation_24hours
    , liver_24hours
    , cardiovascular_24hours
    , cns_24hours
    , renal_24hours
    , respiration_24hours + coagulation_24hours + liver_24hours
        + cardiovascular_24hours + cns_24hours + renal_24hours AS sofa_24hours
FROM score_final
WHERE hr >= hr_first
