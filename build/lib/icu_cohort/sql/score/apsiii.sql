-- Acute Physiology Score III (APS III), one row per ICU stay (mimiciv_icu.icustays.stay_id),
-- from the first day of the stay.
--
-- What it computes: 16 component scores from the worst first-day values of heart rate, mean
-- blood pressure, temperature, respiratory rate, oxygenation (PaO2 or A-aDO2), hematocrit, WBC,
-- creatinine, urine output, BUN, sodium, albumin, bilirubin, glucose, acid-base (pH x PaCO2)
-- and the GCS (eyes x verbal x motor), their sum `apsiii`, and the hospital-mortality
-- probability `apsiii_prob` = 1 / (1 + exp(-(-4.4360 + 0.04726 * apsiii))).
--
-- Sources:
--   * Definition followed: MIT-LCP mimic-code, mimic-iv/concepts/score/apsiii.sql (same inputs,
--     bands, worst-value rules, special cases and output columns; the SQL here is rewritten
--     around lookup tables instead of CASE ladders).
--   * Knaus WA, Wagner DP, Draper EA, Zimmerman JE, Bergner M, Bastos PG, Sirio CA, Murphy DJ,
--     Lotring T, Damiano A. The APACHE III prognostic system. Risk prediction of hospital
--     mortality for critically ill hospitalized adults. Chest. 1991;100(6):1619-36.
--   * Johnson AEW. Mortality prediction and acuity assessment in critical care. DPhil thesis,
--     University of Oxford, 2015 (calibration equation for apsiii_prob).
--
-- Inputs (mimic-code derived tables, built before this file runs):
--   mimiciv_derived.first_day_vitalsign, first_day_lab, first_day_urine_output, first_day_gcs,
--   vitalsign (temperature with its site), bg (blood gases), ventilation;
--   plus mimiciv_icu.icustays, mimiciv_hosp.admissions, patients, diagnoses_icd.
--
-- Rules, as in mimic-code:
--   * Two-sided variables: of the day's min and max, score the one further from a normal value
--     (heart rate 75, MBP 90, temperature 38, respiratory rate 19, hematocrit 45.5, WBC 11.5,
--     creatinine 1, sodium 145.5, albumin 3.5, glucose 130); if equally far, the higher score.
--     BUN and bilirubin: the maximum.
--   * Temperature: axillary readings (vitalsign.temperature_site) get +1 degree C, over the
--     first_day_vitalsign window [intime - 6 h, intime + 24 h].
--   * Glucose: lowest and highest of the first-day lab and charted (vitalsign) glucose.
--   * Respiratory rate < 14 scores 0 if invasively ventilated at any time on the first day.
--   * Acute renal failure (creatinine_max >= 1.5 mg/dL and first-day urine output < 410 mL, and no
--     ESRD code N184-N186 / 5854-5856 on the admission as a proxy for chronic dialysis): the
--     creatinine score is 10 (0 if creatinine < 1.5).
--   * Oxygenation, from arterial gases ('ART.'): not invasively ventilated and FiO2 < 50 % (room
--     air if no FiO2) -> the highest PaO2 is scored; invasively ventilated and FiO2 >= 50 % ->
--     the highest A-aDO2. PaO2 is used when both exist.
--   * Acid-base: each arterial gas is scored on the pH x PaCO2 table; the worst gas counts.
--   * GCS: the components of the lowest first-day GCS; a patient unable to give a verbal
--     response (intubated, gcs_unable = 1) scores 0; eye/verbal/motor combinations absent from
--     the table (e.g. eyes closed but oriented) score NULL, so 0 in the total.
--   * A component with no data is NULL and counts 0 in `apsiii`.
--   * Deliberate difference from mimic-code: its blood-gas components (oxygenation, acid-base)
--     take arterial gases from the WHOLE ICU stay [intime, outtime) although the score is a
--     first-day score. Here they come from the first day [intime, intime + 24 h) like every
--     other component, so APS III as a baseline covariate sees no value measured after the
--     exposure may have started (see `arterial_gas_first_day`).

CREATE OR REPLACE TABLE mimiciv_derived.apsiii AS
WITH
icu_stay AS (
    SELECT ie.subject_id, ie.hadm_id, ie.stay_id, ie.intime, ie.outtime
    FROM mimiciv_icu.icustays AS ie
    INNER JOIN mimiciv_hosp.admissions AS adm
        ON ie.hadm_id = adm.hadm_id
    INNER JOIN mimiciv_hosp.patients AS pat
        ON ie.subject_id = pat.subject_id
),

invasive_ventilation AS (
    SELECT stay_id, starttime, endtime
    FROM mimiciv_derived.ventilation
    WHERE ventilation_status = 'InvasiveVent'
),

-- Invasive ventilation overlapping [intime, intime + 24 h].
ventilated_first_day AS (
    SELECT DISTINCT s.stay_id
    FROM icu_stay AS s
    INNER JOIN invasive_ventilation AS v
        ON s.stay_id = v.stay_id
        AND v.starttime <= s.intime + INTERVAL 1 DAY
        AND COALESCE(v.endtime, v.starttime) >= s.intime
),

arterial_gas_first_day AS (
    SELECT
        s.stay_id,
        bg.charttime,
        bg.po2,
        bg.pco2,
        bg.ph,
        bg.aado2,
        COALESCE(bg.fio2, bg.fio2_chartevents) AS fio2_any,
        EXISTS (
            SELECT 1
            FROM invasive_ventilation AS v
            WHERE v.stay_id = s.stay_id
                AND bg.charttime >= v.starttime
                AND bg.charttime <= v.endtime
        ) AS on_invasive_ventilation
    FROM mimiciv_derived.bg AS bg
    INNER JOIN icu_stay AS s
        ON bg.hadm_id = s.hadm_id
        AND bg.charttime >= s.intime
        AND bg.charttime < LEAST(s.outtime, s.intime + INTERVAL 1 DAY)
    WHERE bg.specimen = 'ART.'
),

oxygenation AS (
    SELECT
        stay_id,
        MAX(po2) FILTER (
            WHERE NOT on_invasive_ventilation AND COALESCE(fio2_any, 21) < 50
        ) AS pao2,
        MAX(aado2) FILTER (
            WHERE on_invasive_ventilation AND fio2_any >= 50
        ) AS aado2
    FROM arterial_gas_first_day
    GROUP BY stay_id
),

-- Knaus 1991 acid-base table as in mimic-code: pH band x PaCO2 band -> points.
-- Lower bounds inclusive, upper bounds exclusive.
acid_base_table (ph_from, ph_to, paco2_from, paco2_to, points) AS (
    VALUES
    ('-infinity'::DOUBLE, 7.20, '-infinity'::DOUBLE, 50.0, 12),
    ('-infinity'::DOUBLE, 7.20, 50.0, 'infinity'::DOUBLE,   4),
    (7.20, 7.30, '-infinity'::DOUBLE, 30.0,   9),
    (7.20, 7.30, 30.0, 40.0,                  6),
    (7.20, 7.30, 40.0, 50.0,                  3),
    (7.20, 7.30, 50.0, 'infinity'::DOUBLE,    2),
    (7.30, 7.35, '-infinity'::DOUBLE, 30.0,   9),
    (7.30, 7.35, 30.0, 45.0,                  0),
    (7.30, 7.35, 45.0, 'infinity'::DOUBLE,    1),
    (7.35, 7.45, '-infinity'::DOUBLE, 30.0,   5),
    (7.35, 7.45, 30.0, 45.0,                  0),
    (7.35, 7.45, 45.0, 'infinity'::DOUBLE,    1),
    (7.45, 7.50, '-infinity'::DOUBLE, 30.0,   5),
    (7.45, 7.50, 30.0, 35.0,                  0),
    (7.45, 7.50, 35.0, 45.0,                  2),
    (7.45, 7.50, 45.0, 'infinity'::DOUBLE,   12),
    (7.50, 7.60, '-infinity'::DOUBLE, 40.0,   3),
    (7.50, 7.60, 40.0, 'infinity'::DOUBLE,   12),
    (7.60, 'infinity'::DOUBLE, '-infinity'::DOUBLE, 25.0, 0),
    (7.60, 'infinity'::DOUBLE, 25.0, 40.0,    3),
    (7.60, 'infinity'::DOUBLE, 40.0, 'infinity'::DOUBLE, 12)
),

acid_base AS (
    SELECT g.stay_id, MAX(t.points) AS acidbase_score
    FROM arterial_gas_first_day AS g
    INNER JOIN acid_base_table AS t
        ON g.ph >= t.ph_from AND g.ph < t.ph_to
        AND g.pco2 >= t.paco2_from AND g.pco2 < t.paco2_to
    GROUP BY g.stay_id
),

-- ESRD codes as a proxy for chronic dialysis (5859 / N189 deliberately not included).
esrd_diagnosis AS (
    SELECT
        hadm_id,
        MAX(CASE
            WHEN icd_version = 9 AND left(icd_code, 4) IN ('5854', '5855', '5856') THEN 1
            WHEN icd_version = 10 AND left(icd_code, 4) IN ('N184', 'N185', 'N186') THEN 1
            ELSE 0
        END) AS has_esrd_code
    FROM mimiciv_hosp.diagnoses_icd
    GROUP BY hadm_id
),

-- As in mimic-code, an admission with no diagnosis rows at all is never flagged (has_esrd_code
-- is NULL there, so the condition is not met).
acute_renal_failure AS (
    SELECT
        s.stay_id,
        CASE
            WHEN lab.creatinine_max >= 1.5
                AND uo.urineoutput < 410
                AND esrd.has_esrd_code = 0
                THEN 1
            ELSE 0
        END AS arf
    FROM icu_stay AS s
    LEFT JOIN mimiciv_derived.first_day_lab AS lab
        ON s.stay_id = lab.stay_id
    LEFT JOIN mimiciv_derived.first_day_urine_output AS uo
        ON s.stay_id = uo.stay_id
    LEFT JOIN esrd_diagnosis AS esrd
        ON s.hadm_id = esrd.hadm_id
),

first_day_temperature AS (
    SELECT
        s.stay_id,
        MIN(vs.temperature + CASE
            WHEN lower(vs.temperature_site) LIKE '%axillary%' THEN 1.0 ELSE 0.0 END
        ) AS temperature_min,
        MAX(vs.temperature + CASE
            WHEN lower(vs.temperature_site) LIKE '%axillary%' THEN 1.0 ELSE 0.0 END
        ) AS temperature_max
    FROM icu_stay AS s
    INNER JOIN mimiciv_derived.vitalsign AS vs
        ON s.stay_id = vs.stay_id
        AND vs.charttime >= s.intime - INTERVAL 6 HOUR
        AND vs.charttime <= s.intime + INTERVAL 1 DAY
    WHERE vs.temperature IS NOT NULL
    GROUP BY s.stay_id
),

-- Everything one stay needs, one row per stay.
first_day_extremes AS (
    SELECT
        s.stay_id,
        COALESCE(vfd.stay_id IS NOT NULL, FALSE) AS ventilated,
        COALESCE(arf.arf, 0) = 1 AS acute_renal_failure,
        vit.heart_rate_min, vit.heart_rate_max,
        vit.mbp_min, vit.mbp_max,
        tmp.temperature_min, tmp.temperature_max,
        vit.resp_rate_min, vit.resp_rate_max,
        lab.hematocrit_min, lab.hematocrit_max,
        lab.wbc_min, lab.wbc_max,
        lab.creatinine_min, lab.creatinine_max,
        lab.bun_min, lab.bun_max,
        lab.sodium_min, lab.sodium_max,
        lab.albumin_min, lab.albumin_max,
        lab.bilirubin_total_min AS bilirubin_min, lab.bilirubin_total_max AS bilirubin_max,
        least(lab.glucose_min, vit.glucose_min) AS glucose_min,
        greatest(lab.glucose_max, vit.glucose_max) AS glucose_max,
        -- single-valued inputs, written as min = max so they share the band lookup
        uo.urineoutput AS uo_min, uo.urineoutput AS uo_max,
        oxy.pao2 AS pao2_min, oxy.pao2 AS pao2_max,
        oxy.aado2 AS aado2_min, oxy.aado2 AS aado2_max
    FROM icu_stay AS s
    LEFT JOIN ventilated_first_day AS vfd ON s.stay_id = vfd.stay_id
    LEFT JOIN acute_renal_failure AS arf ON s.stay_id = arf.stay_id
    LEFT JOIN mimiciv_derived.first_day_vitalsign AS vit ON s.stay_id = vit.stay_id
    LEFT JOIN first_day_temperature AS tmp ON s.stay_id = tmp.stay_id
    LEFT JOIN mimiciv_derived.first_day_lab AS lab ON s.stay_id = lab.stay_id
    LEFT JOIN mimiciv_derived.first_day_urine_output AS uo ON s.stay_id = uo.stay_id
    LEFT JOIN oxygenation AS oxy ON s.stay_id = oxy.stay_id
),

-- Long form: one row per (stay, component) that has data.
component_extremes AS (
    UNPIVOT first_day_extremes
    ON
        (heart_rate_min, heart_rate_max) AS hr,
        (mbp_min, mbp_max) AS mbp,
        (temperature_min, temperature_max) AS temp,
        (resp_rate_min, resp_rate_max) AS resp_rate,
        (hematocrit_min, hematocrit_max) AS hematocrit,
        (wbc_min, wbc_max) AS wbc,
        (creatinine_min, creatinine_max) AS creatinine,
        (bun_min, bun_max) AS bun,
        (sodium_min, sodium_max) AS sodium,
        (albumin_min, albumin_max) AS albumin,
        (bilirubin_min, bilirubin_max) AS bilirubin,
        (glucose_min, glucose_max) AS glucose,
        (uo_min, uo_max) AS uo,
        (pao2_min, pao2_max) AS pao2,
        (aado2_min, aado2_max) AS aado2
    INTO NAME component VALUE value_min, value_max
),

-- Which band table scores a component: two special cases switch to their own table.
component_band_table AS (
    SELECT
        stay_id,
        component,
        value_min,
        value_max,
        CASE
            WHEN component = 'resp_rate' AND ventilated THEN 'resp_rate_ventilated'
            WHEN component = 'creatinine' AND acute_renal_failure THEN 'creatinine_arf'
            ELSE component
        END AS band_table
    FROM component_extremes
),

-- Knaus 1991 single-variable tables as in mimic-code. lower inclusive, upper exclusive.
physiology_bands (band_table, lower, upper, points) AS (
    VALUES
    ('hr', '-infinity'::DOUBLE, 40.0, 8), ('hr', 40, 50, 5), ('hr', 50, 100, 0),
    ('hr', 100, 110, 1), ('hr', 110, 120, 5), ('hr', 120, 140, 7), ('hr', 140, 155, 13),
    ('hr', 155, 'infinity'::DOUBLE, 17),

    ('mbp', '-infinity'::DOUBLE, 40.0, 23), ('mbp', 40, 60, 15), ('mbp', 60, 70, 7),
    ('mbp', 70, 80, 6), ('mbp', 80, 100, 0), ('mbp', 100, 120, 4), ('mbp', 120, 130, 7),
    ('mbp', 130, 140, 9), ('mbp', 140, 'infinity'::DOUBLE, 10),

    ('temp', '-infinity'::DOUBLE, 33.0, 20), ('temp', 33.0, 33.5, 16), ('temp', 33.5, 34.0, 13),
    ('temp', 34.0, 35.0, 8), ('temp', 35.0, 36.0, 2), ('temp', 36.0, 40.0, 0),
    ('temp', 40.0, 'infinity'::DOUBLE, 4),

    ('resp_rate', '-infinity'::DOUBLE, 6.0, 17), ('resp_rate', 6, 12, 8),
    ('resp_rate', 12, 14, 7), ('resp_rate', 14, 25, 0), ('resp_rate', 25, 35, 6),
    ('resp_rate', 35, 40, 9), ('resp_rate', 40, 50, 11), ('resp_rate', 50, 'infinity'::DOUBLE, 18),

    -- invasively ventilated on day 1: a low rate (< 14) is not penalised
    ('resp_rate_ventilated', '-infinity'::DOUBLE, 14.0, 0), ('resp_rate_ventilated', 14, 25, 0),
    ('resp_rate_ventilated', 25, 35, 6), ('resp_rate_ventilated', 35, 40, 9),
    ('resp_rate_ventilated', 40, 50, 11), ('resp_rate_ventilated', 50, 'infinity'::DOUBLE, 18),

    ('hematocrit', '-infinity'::DOUBLE, 41.0, 3), ('hematocrit', 41.0, 50.0, 0),
    ('hematocrit', 50.0, 'infinity'::DOUBLE, 3),

    ('wbc', '-infinity'::DOUBLE, 1.0, 19), ('wbc', 1.0, 3.0, 5), ('wbc', 3.0, 20.0, 0),
    ('wbc', 20.0, 25.0, 1), ('wbc', 25.0, 'infinity'::DOUBLE, 5),

    ('creatinine', '-infinity'::DOUBLE, 0.5, 3), ('creatinine', 0.5, 1.5, 0),
    ('creatinine', 1.5, 1.95, 4), ('creatinine', 1.95, 'infinity'::DOUBLE, 7),

    ('creatinine_arf', '-infinity'::DOUBLE, 1.5, 0),
    ('creatinine_arf', 1.5, 'infinity'::DOUBLE, 10),

    ('bun', '-infinity'::DOUBLE, 17.0, 0), ('bun', 17.0, 20.0, 2), ('bun', 20.0, 40.0, 7),
    ('bun', 40.0, 80.0, 11), ('bun', 80.0, 'infinity'::DOUBLE, 12),

    ('sodium', '-infinity'::DOUBLE, 120.0, 3), ('sodium', 120, 135, 2), ('sodium', 135, 155, 0),
    ('sodium', 155, 'infinity'::DOUBLE, 4),

    ('albumin', '-infinity'::DOUBLE, 2.0, 11), ('albumin', 2.0, 2.5, 6), ('albumin', 2.5, 4.5, 0),
    ('albumin', 4.5, 'infinity'::DOUBLE, 4),

    ('bilirubin', '-infinity'::DOUBLE, 2.0, 0), ('bilirubin', 2.0, 3.0, 5),
    ('bilirubin', 3.0, 5.0, 6), ('bilirubin', 5.0, 8.0, 8),
    ('bilirubin', 8.0, 'infinity'::DOUBLE, 16),

    ('glucose', '-infinity'::DOUBLE, 40.0, 8), ('glucose', 40, 60, 9), ('glucose', 60, 200, 0),
    ('glucose', 200, 350, 3), ('glucose', 350, 'infinity'::DOUBLE, 5),

    ('uo', '-infinity'::DOUBLE, 400.0, 15), ('uo', 400, 600, 8), ('uo', 600, 900, 7),
    ('uo', 900, 1500, 5), ('uo', 1500, 2000, 4), ('uo', 2000, 4000, 0),
    ('uo', 4000, 'infinity'::DOUBLE, 1),

    ('pao2', '-infinity'::DOUBLE, 50.0, 15), ('pao2', 50, 70, 5), ('pao2', 70, 80, 2),
    ('pao2', 80, 'infinity'::DOUBLE, 0),

    ('aado2', '-infinity'::DOUBLE, 100.0, 0), ('aado2', 100, 250, 7), ('aado2', 250, 350, 9),
    ('aado2', 350, 500, 11), ('aado2', 500, 'infinity'::DOUBLE, 14)
),

-- "Worst" of min and max = the one further from this normal value (ties: higher points).
-- NULL normal = always score the maximum (BUN, bilirubin, creatinine under acute renal
-- failure; single-valued inputs have min = max so the rule does not matter).
normal_values (band_table, normal_value) AS (
    VALUES
    ('hr', 75.0), ('mbp', 90.0), ('temp', 38.0), ('resp_rate', 19.0),
    ('resp_rate_ventilated', 19.0), ('hematocrit', 45.5), ('wbc', 11.5), ('creatinine', 1.0),
    ('creatinine_arf', NULL), ('bun', NULL), ('sodium', 145.5), ('albumin', 3.5),
    ('bilirubin', NULL), ('glucose', 130.0), ('uo', NULL), ('pao2', NULL), ('aado2', NULL)
),

component_points AS (
    SELECT
        c.stay_id,
        c.component,
        CASE
            WHEN n.normal_value IS NULL THEN at_max.points
            WHEN abs(c.value_max - n.normal_value) > abs(c.value_min - n.normal_value)
                THEN at_max.points
            WHEN abs(c.value_max - n.normal_value) < abs(c.value_min - n.normal_value)
                THEN at_min.points
            ELSE greatest(at_max.points, at_min.points)
        END AS points
    FROM component_band_table AS c
    INNER JOIN normal_values AS n
        ON c.band_table = n.band_table
    LEFT JOIN physiology_bands AS at_min
        ON c.band_table = at_min.band_table
        AND c.value_min >= at_min.lower AND c.value_min < at_min.upper
    LEFT JOIN physiology_bands AS at_max
        ON c.band_table = at_max.band_table
        AND c.value_max >= at_max.lower AND c.value_max < at_max.upper
),

-- Knaus 1991 neurological table as in mimic-code (inclusive ranges of the GCS components).
gcs_table (eyes_from, eyes_to, verbal_from, verbal_to, motor_from, motor_to, points) AS (
    VALUES
    -- eyes closed (eyes = 1)
    (1, 1, 1, 1, 1, 2, 48), (1, 1, 1, 1, 3, 4, 33), (1, 1, 1, 1, 5, 6, 16),
    (1, 1, 2, 3, 1, 2, 29), (1, 1, 2, 3, 3, 4, 24),
    -- eyes open spontaneously or to pain/verbal stimulation (eyes 2-4)
    (2, 4, 1, 1, 1, 2, 29), (2, 4, 1, 1, 3, 4, 24), (2, 4, 1, 1, 5, 6, 15),
    (2, 4, 2, 3, 1, 2, 29), (2, 4, 2, 3, 3, 4, 24), (2, 4, 2, 3, 5, 5, 13),
    (2, 4, 2, 3, 6, 6, 10),
    (2, 4, 4, 4, 1, 4, 13), (2, 4, 4, 4, 5, 5, 8), (2, 4, 4, 4, 6, 6, 3),
    (2, 4, 5, 5, 1, 5, 3), (2, 4, 5, 5, 6, 6, 0)
),

gcs_points AS (
    SELECT
        s.stay_id,
        CASE
            -- unable to assess verbal response (intubated): assumed normal, as mimic-code
            WHEN g.gcs_unable = 1 THEN 0
            ELSE t.points
        END AS gcs_score
    FROM icu_stay AS s
    INNER JOIN mimiciv_derived.first_day_gcs AS g
        ON s.stay_id = g.stay_id
    LEFT JOIN gcs_table AS t
        ON g.gcs_eyes BETWEEN t.eyes_from AND t.eyes_to
        AND g.gcs_verbal BETWEEN t.verbal_from AND t.verbal_to
        AND g.gcs_motor BETWEEN t.motor_from AND t.motor_to
),

-- Back to one row per stay, one column per component (mimic-code names).
component_scores AS (
    SELECT
        s.subject_id,
        s.hadm_id,
        s.stay_id,
        MAX(cp.points) FILTER (WHERE cp.component = 'hr') AS hr_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'mbp') AS mbp_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'temp') AS temp_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'resp_rate') AS resp_rate_score,
        COALESCE(
            MAX(cp.points) FILTER (WHERE cp.component = 'pao2'),
            MAX(cp.points) FILTER (WHERE cp.component = 'aado2')
        ) AS pao2_aado2_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'hematocrit') AS hematocrit_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'wbc') AS wbc_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'creatinine') AS creatinine_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'uo') AS uo_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'bun') AS bun_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'sodium') AS sodium_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'albumin') AS albumin_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'bilirubin') AS bilirubin_score,
        MAX(cp.points) FILTER (WHERE cp.component = 'glucose') AS glucose_score
    FROM icu_stay AS s
    LEFT JOIN component_points AS cp
        ON s.stay_id = cp.stay_id
    GROUP BY s.subject_id, s.hadm_id, s.stay_id
),

aps_total AS (
    SELECT
        cs.*,
        ab.acidbase_score,
        gp.gcs_score,
        -- a missing component counts as normal (0)
        COALESCE(cs.hr_score, 0)
            + COALESCE(cs.mbp_score, 0)
            + COALESCE(cs.temp_score, 0)
            + COALESCE(cs.resp_rate_score, 0)
            + COALESCE(cs.pao2_aado2_score, 0)
            + COALESCE(cs.hematocrit_score, 0)
            + COALESCE(cs.wbc_score, 0)
            + COALESCE(cs.creatinine_score, 0)
            + COALESCE(cs.uo_score, 0)
            + COALESCE(cs.bun_score, 0)
            + COALESCE(cs.sodium_score, 0)
            + COALESCE(cs.albumin_score, 0)
            + COALESCE(cs.bilirubin_score, 0)
            + COALESCE(cs.glucose_score, 0)
            + COALESCE(ab.acidbase_score, 0)
            + COALESCE(gp.gcs_score, 0)
            AS apsiii
    FROM component_scores AS cs
    LEFT JOIN acid_base AS ab ON cs.stay_id = ab.stay_id
    LEFT JOIN gcs_points AS gp ON cs.stay_id = gp.stay_id
)

-- Every ICU stay gets a row; stays lacking an admission or patient row get NULL scores.
SELECT
    ie.subject_id,
    ie.hadm_id,
    ie.stay_id,
    t.apsiii,
    1.0 / (1.0 + exp(-(-4.4360 + 0.04726 * t.apsiii))) AS apsiii_prob,
    t.hr_score,
    t.mbp_score,
    t.temp_score,
    t.resp_rate_score,
    t.pao2_aado2_score,
    t.hematocrit_score,
    t.wbc_score,
    t.creatinine_score,
    t.uo_score,
    t.bun_score,
    t.sodium_score,
    t.albumin_score,
    t.bilirubin_score,
    t.glucose_score,
    t.acidbase_score,
    t.gcs_score
FROM mimiciv_icu.icustays AS ie
LEFT JOIN aps_total AS t
    ON ie.stay_id = t.stay_id
ORDER BY ie.stay_id;
