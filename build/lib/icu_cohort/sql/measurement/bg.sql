-- mimiciv_derived.bg: blood gases from hosp.labevents, one row per specimen with a pO2,
-- with the SpO2 charted up to 2 h before and the FiO2 charted up to 4 h before, the
-- calculated A-aDO2 and the PaO2/FiO2 ratio.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/bg.sql (same itemids, cleaning
-- rules and output columns). The "most recent SpO2 / FiO2 before the gas" joins, written in
-- mimic-code as a range join plus ROW_NUMBER(), are ASOF joins here (the latest charting at
-- or before the gas; kept only if within 2 h / 4 h, which is the same row).
-- Specimen type: itemid 52033, 'ART.' for arterial.
WITH bg AS (
    SELECT
        MAX(subject_id) AS subject_id
        , MAX(hadm_id) AS hadm_id
        , MAX(charttime) AS charttime
        , MAX(storetime) AS storetime
        , le.specimen_id
        , MAX(CASE WHEN itemid = 52033 THEN value END) AS specimen
        , MAX(CASE WHEN itemid = 50801 THEN valuenum END) AS aado2
        , MAX(CASE WHEN itemid = 50802 THEN valuenum END) AS baseexcess
        , MAX(CASE WHEN itemid = 50803 THEN valuenum END) AS bicarbonate
        , MAX(CASE WHEN itemid = 50804 THEN valuenum END) AS totalco2
        , MAX(CASE WHEN itemid = 50805 THEN valuenum END) AS carboxyhemoglobin
        , MAX(CASE WHEN itemid = 50806 THEN valuenum END) AS chloride
        , MAX(CASE WHEN itemid = 50808 THEN valuenum END) AS calcium
        , MAX(CASE WHEN itemid = 50809 AND valuenum <= 10000 THEN valuenum END) AS glucose
        , MAX(CASE WHEN itemid = 50810 AND valuenum <= 100 THEN valuenum END) AS hematocrit
        , MAX(CASE WHEN itemid = 50811 THEN valuenum END) AS hemoglobin
        , MAX(CASE WHEN itemid = 50813 AND valuenum <= 10000 THEN valuenum END) AS lactate
        , MAX(CASE WHEN itemid = 50814 THEN valuenum END) AS methemoglobin
        , MAX(CASE WHEN itemid = 50815 THEN valuenum END) AS o2flow
        -- FiO2 <= 20 % is unphysiological (usually an O2 flow); fractions become percentages
        , MAX(CASE WHEN itemid = 50816 THEN
            CASE
                WHEN valuenum > 20 AND valuenum <= 100 THEN valuenum
                WHEN valuenum > 0.2 AND valuenum <= 1.0 THEN valuenum * 100.0
            END
        END) AS fio2
        , MAX(CASE WHEN itemid = 50817 AND valuenum <= 100 THEN valuenum END) AS so2
        , MAX(CASE WHEN itemid = 50818 THEN valuenum END) AS pco2
        , MAX(CASE WHEN itemid = 50819 THEN valuenum END) AS peep
        , MAX(CASE WHEN itemid = 50820 THEN valuenum END) AS ph
        , MAX(CASE WHEN itemid = 50821 THEN valuenum END) AS po2
        , MAX(CASE WHEN itemid = 50822 THEN valuenum END) AS potassium
        , MAX(CASE WHEN itemid = 50823 THEN valuenum END) AS requiredo2
        , MAX(CASE WHEN itemid = 50824 THEN valuenum END) AS sodium
        , MAX(CASE WHEN itemid = 50825 THEN valuenum END) AS temperature
        , MAX(CASE WHEN itemid = 50807 THEN value END) AS comments
    FROM mimiciv_hosp.labevents AS le
    WHERE le.itemid IN (
        52033  -- specimen
        , 50801, 50802, 50803, 50804, 50805, 50806, 50807, 50808, 50809, 50810
        , 50811, 50813, 50814, 50815, 50816, 50817, 50818, 50819, 50820, 50821
        , 50822, 50823, 50824, 50825
    )
    GROUP BY le.specimen_id
)

, stg_spo2 AS (
    SELECT subject_id, charttime, AVG(valuenum) AS spo2
    FROM stage.chartevents
    WHERE itemid = 220277  -- O2 saturation pulse oximetry
        AND valuenum > 0 AND valuenum <= 100
    GROUP BY subject_id, charttime
)

, stg_fio2 AS (
    SELECT
        subject_id
        , charttime
        , MAX(CASE
            WHEN valuenum > 0.2 AND valuenum <= 1 THEN valuenum * 100
            -- improperly input data - looks like O2 flow in litres
            WHEN valuenum > 1 AND valuenum < 20 THEN NULL
            WHEN valuenum >= 20 AND valuenum <= 100 THEN valuenum
        END) AS fio2_chartevents
    FROM stage.chartevents
    WHERE itemid = 223835  -- inspired O2 fraction (FiO2)
        AND valuenum > 0 AND valuenum <= 100
    GROUP BY subject_id, charttime
)

, stg_fio2_valid AS (
    SELECT subject_id, charttime, fio2_chartevents
    FROM stg_fio2
    WHERE fio2_chartevents > 0
)

, bg_po2 AS (
    SELECT * FROM bg WHERE po2 IS NOT NULL
)

, stg2 AS (
    SELECT
        b.*
        , CASE WHEN s1.charttime >= b.charttime - INTERVAL 2 HOUR THEN s1.spo2 END AS spo2
    FROM bg_po2 AS b
    ASOF LEFT JOIN stg_spo2 AS s1
        ON b.subject_id = s1.subject_id
            AND b.charttime >= s1.charttime
)

, stg3 AS (
    SELECT
        b.*
        , CASE WHEN s2.charttime >= b.charttime - INTERVAL 4 HOUR THEN s2.fio2_chartevents END
            AS fio2_chartevents
    FROM stg2 AS b
    ASOF LEFT JOIN stg_fio2_valid AS s2
        ON b.subject_id = s2.subject_id
            AND b.charttime >= s2.charttime
)

SELECT
    subject_id
    , hadm_id
    , charttime
    , specimen
    -- oxygen related parameters
    , so2
    , po2
    , pco2
    , fio2_chartevents
    , fio2
    , aado2
    , ROUND(CASE
        WHEN po2 IS NULL OR pco2 IS NULL THEN NULL
        WHEN fio2 IS NOT NULL THEN (fio2 / 100) * (760 - 47) - (pco2 / 0.8) - po2
        WHEN fio2_chartevents IS NOT NULL THEN (fio2_chartevents / 100) * (760 - 47) - (pco2 / 0.8) - po2
    END, 4) AS aado2_calc
    , CASE
        WHEN po2 IS NULL THEN NULL
        -- FiO2 is a percentage, the ratio uses the fraction
        WHEN fio2 IS NOT NULL THEN 100 * po2 / fio2
        WHEN fio2_chartevents IS NOT NULL THEN 100 * po2 / fio2_chartevents
    END AS pao2fio2ratio
    -- acid-base parameters
    , ph
    , baseexcess
    , bicarbonate
    , totalco2
    -- blood count parameters
    , hematocrit
    , hemoglobin
    , carboxyhemoglobin
    , methemoglobin
    -- chemistry
    , chloride
    , calcium
    , temperature
    , potassium
    , sodium
    , lactate
    , glucose
FROM stg3
