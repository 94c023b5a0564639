-- mimiciv_derived.first_day_sofa: the SOFA score of the first ICU day, per ICU stay: the
-- worst value of each organ over [intime - 6 h, intime + 24 h] (urine output over
-- [intime, intime + 24 h]), with missing organs counted 0 in sofa.
-- Sources: Vincent J-L et al., Intensive Care Med 1996;22:707-710; MIT-LCP mimic-code,
-- mimic-iv/concepts/firstday/first_day_sofa.sql (inputs: first_day_vitalsign,
-- first_day_lab, first_day_urine_output, first_day_gcs, bg with ventilation, and the
-- vasopressor tables: highest rate of infusions starting in the window, mcg/kg/min).
WITH vaso_stg AS (
    -- infusions starting in [intime - 6 h, intime + 24 h]
    SELECT ie.stay_id, mv.agent AS treatment, mv.vaso_rate AS rate
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN mimiciv_derived.vasoactive_infusion AS mv
        ON ie.stay_id = mv.stay_id
            AND mv.starttime >= ie.intime - INTERVAL 6 HOUR
            AND mv.starttime <= ie.intime + INTERVAL 1 DAY
    WHERE mv.agent IN ('norepinephrine', 'epinephrine', 'dobutamine', 'dopamine')
)

, vaso_mv AS (
    SELECT
        stay_id
        , MAX(CASE WHEN treatment = 'norepinephrine' THEN rate END) AS rate_norepinephrine
        , MAX(CASE WHEN treatment = 'epinephrine' THEN rate END) AS rate_epinephrine
        , MAX(CASE WHEN treatment = 'dopamine' THEN rate END) AS rate_dopamine
        , MAX(CASE WHEN treatment = 'dobutamine' THEN rate END) AS rate_dobutamine
    FROM vaso_stg
    GROUP BY stay_id
)

, pafi1 AS (
    -- arterial blood gases of the first day, flagged when invasively ventilated
    SELECT
        ie.stay_id
        , bg.charttime
        , bg.pao2fio2ratio
        , CASE WHEN vd.stay_id IS NOT NULL THEN 1 ELSE 0 END AS isvent
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN mimiciv_derived.bg AS bg
        ON ie.subject_id = bg.subject_id
            AND bg.charttime >= ie.intime - INTERVAL 6 HOUR
            AND bg.charttime <= ie.intime + INTERVAL 1 DAY
            AND bg.specimen = 'ART.'
    LEFT JOIN mimiciv_derived.ventilation AS vd
        ON ie.stay_id = vd.stay_id
            AND bg.charttime >= vd.starttime
            AND bg.charttime <= vd.endtime
            AND vd.ventilation_status = 'InvasiveVent'
)

, pafi2 AS (
    -- the lowest ratio with and without ventilation: both are needed, as an unventilated
    -- ratio of 68 with a ventilated one of 120 scores 3, not 4
    SELECT
        stay_id
        , MIN(CASE WHEN isvent = 0 THEN pao2fio2ratio END) AS pao2fio2_novent_min
        , MIN(CASE WHEN isvent = 1 THEN pao2fio2ratio END) AS pao2fio2_vent_min
    FROM pafi1
    GROUP BY stay_id
)

, scorecomp AS (
    SELECT
        ie.stay_id
        , v.mbp_min
        , mv.rate_norepinephrine
        , mv.rate_epinephrine
        , mv.rate_dopamine
        , mv.rate_dobutamine
        , l.creatinine_max
        , l.bilirubin_total_max AS bilirubin_max
        , l.platelets_min AS platelet_min
        , pf.pao2fio2_novent_min
        , pf.pao2fio2_vent_min
        , uo.urineoutput
        , gcs.gcs_min
    FROM mimiciv_icu.icustays AS ie
    LEFT JOIN vaso_mv AS mv ON ie.stay_id = mv.stay_id
    LEFT JOIN pafi2 AS pf ON ie.stay_id = pf.stay_id
    LEFT JOIN mimiciv_derived.first_day_vitalsign AS v ON ie.stay_id = v.stay_id
    LEFT JOIN mimiciv_derived.first_day_lab AS l ON ie.stay_id = l.stay_id
    LEFT JOIN mimiciv_derived.first_day_urine_output AS uo ON ie.stay_id = uo.stay_id
    LEFT JOIN mimiciv_derived.first_day_gcs AS gcs ON ie.stay_id = gcs.stay_id
)

, scorecalc AS (
    -- thresholds: score/sofa_organ_scores.sql
    SELECT
        stay_id
        , sofa_respiration(pao2fio2_vent_min, pao2fio2_novent_min) AS respiration
        , sofa_coagulation(platelet_min) AS coagulation
        , sofa_liver(bilirubin_max) AS liver
        , sofa_cardiovascular(mbp_min, rate_dopamine, rate_dobutamine, rate_epinephrine, rate_norepinephrine)
            AS cardiovascular
        , sofa_cns(gcs_min) AS cns
        , sofa_renal(creatinine_max, urineoutput) AS renal
    FROM scorecomp
)

SELECT
    ie.subject_id
    , ie.hadm_id
    , ie.stay_id
    , COALESCE(respiration, 0) + COALESCE(coagulation, 0) + COALESCE(liver, 0)
        + COALESCE(cardiovascular, 0) + COALESCE(cns, 0) + COALESCE(renal, 0) AS sofa
    , respiration
    , coagulation
    , liver
    , cardiovascular
    , cns
    , renal
FROM mimiciv_icu.icustays AS ie
LEFT JOIN scorecalc AS s
    ON ie.stay_id = s.stay_id
