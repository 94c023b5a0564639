-- mimiciv_derived.ventilator_setting: ventilator settings per patient and charttime
-- (set / total / spontaneous respiratory rate, minute volume, tidal volumes, plateau
-- pressure, PEEP, FiO2 in %, flow rate, ventilator mode, Hamilton mode, ventilator type).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/measurement/ventilator_setting.sql
-- (FiO2: fractions 0.2-1 become %, 1-20 dropped as O2 flows; PEEP outside 0-100 dropped).
WITH ce AS (
    SELECT
        ce.subject_id
        , ce.stay_id
        , ce.charttime
        , ce.itemid
        , ce.value
        , CASE
            WHEN ce.itemid = 223835 THEN
                CASE
                    WHEN ce.valuenum >= 0.20 AND ce.valuenum <= 1 THEN ce.valuenum * 100
                    WHEN ce.valuenum > 1 AND ce.valuenum < 20 THEN NULL
                    WHEN ce.valuenum >= 20 AND ce.valuenum <= 100 THEN ce.valuenum
                END
            WHEN ce.itemid IN (220339, 224700) THEN
                CASE WHEN ce.valuenum > 100 OR ce.valuenum < 0 THEN NULL ELSE ce.valuenum END
            ELSE ce.valuenum
        END AS valuenum
    FROM stage.chartevents AS ce
    WHERE ce.value IS NOT NULL
        AND ce.stay_id IS NOT NULL
        AND ce.itemid IN (
            224688  -- respiratory rate (set)
            , 224689  -- respiratory rate (spontaneous)
            , 224690  -- respiratory rate (total)
            , 224687  -- minute volume
            , 224685, 224684, 224686  -- tidal volume observed / set / spontaneous
            , 224696  -- plateau pressure
            , 220339, 224700  -- PEEP
            , 223835  -- FiO2
            , 223849  -- ventilator mode
            , 229314  -- ventilator mode (Hamilton)
            , 223848  -- ventilator type
            , 224691  -- flow rate (L)
        )
)

SELECT
    subject_id
    , MAX(stay_id) AS stay_id
    , charttime
    , MAX(CASE WHEN itemid = 224688 THEN valuenum END) AS respiratory_rate_set
    , MAX(CASE WHEN itemid = 224690 THEN valuenum END) AS respiratory_rate_total
    , MAX(CASE WHEN itemid = 224689 THEN valuenum END) AS respiratory_rate_spontaneous
    , MAX(CASE WHEN itemid = 224687 THEN valuenum END) AS minute_volume
    , MAX(CASE WHEN itemid = 224684 THEN valuenum END) AS tidal_volume_set
    , MAX(CASE WHEN itemid = 224685 THEN valuenum END) AS tidal_volume_observed
    , MAX(CASE WHEN itemid = 224686 THEN valuenum END) AS tidal_volume_spontaneous
    , MAX(CASE WHEN itemid = 224696 THEN valuenum END) AS plateau_pressure
    , MAX(CASE WHEN itemid IN (220339, 224700) THEN valuenum END) AS peep
    , MAX(CASE WHEN itemid = 223835 THEN valuenum END) AS fio2
    , MAX(CASE WHEN itemid = 224691 THEN valuenum END) AS flow_rate
    , MAX(CASE WHEN itemid = 223849 THEN value END) AS ventilator_mode
    , MAX(CASE WHEN itemid = 229314 THEN value END) AS ventilator_mode_hamilton
    , MAX(CASE WHEN itemid = 223848 THEN value END) AS ventilator_type
FROM ce
GROUP BY subject_id, charttime
