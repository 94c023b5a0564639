-- mimiciv_derived.ventilation: episodes of oxygen therapy / ventilation per ICU stay with
-- start and end times and one status each, in order of priority: Tracheostomy,
-- InvasiveVent, NonInvasiveVent, HFNC, SupplementalOxygen, None.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/treatment/ventilation.sql (the device and
-- ventilator-mode lists below are mimic-code's; trailing spaces in some device names are
-- as charted in MIMIC-IV).
-- Episodes, as in mimic-code: consecutive chartings with the same status form one episode;
-- a gap of 14 hours or more since the previous charting of the same status starts a new one;
-- an episode ends at the next charting of any status (or at its own last charting when the
-- next one is 14 hours or more later, or there is none); single-charting episodes are dropped.
-- Gaps are measured in elapsed time (mimic-code's BigQuery DATETIME_DIFF(..., HOUR)).
WITH tm AS (
    SELECT stay_id, charttime FROM mimiciv_derived.ventilator_setting
    UNION
    SELECT stay_id, charttime FROM mimiciv_derived.oxygen_delivery
)

, vs AS (
    SELECT
        tm.stay_id
        , tm.charttime
        , od.o2_delivery_device_1
        , COALESCE(vs.ventilator_mode, vs.ventilator_mode_hamilton) AS vent_mode
        , CASE
            WHEN od.o2_delivery_device_1 IN ('Tracheostomy tube', 'Trach mask ')
                THEN 'Tracheostomy'
            WHEN od.o2_delivery_device_1 IN ('Endotracheal tube')
                OR vs.ventilator_mode IN (
                    '(S) CMV', 'APRV', 'APRV/Biphasic+ApnPress', 'APRV/Biphasic+ApnVol'
                    , 'APV (cmv)', 'Ambient', 'Apnea Ventilation', 'CMV', 'CMV/ASSIST'
                    , 'CMV/ASSIST/AutoFlow', 'CMV/AutoFlow', 'CPAP/PPS', 'CPAP/PSV+Apn TCPL'
                    , 'CPAP/PSV+ApnPres', 'CPAP/PSV+ApnVol', 'MMV', 'MMV/AutoFlow', 'MMV/PSV'
                    , 'MMV/PSV/AutoFlow', 'P-CMV', 'PCV+', 'PCV+/PSV', 'PCV+Assist', 'PRES/AC'
                    , 'PRVC/AC', 'PRVC/SIMV', 'PSV/SBT', 'SIMV', 'SIMV/AutoFlow', 'SIMV/PRES'
                    , 'SIMV/PSV', 'SIMV/PSV/AutoFlow', 'SIMV/VOL', 'SYNCHRON MASTER'
                    , 'SYNCHRON SLAVE', 'VOL/AC'
                )
                OR vs.ventilator_mode_hamilton IN (
                    'APRV', 'APV (cmv)', 'Ambient', '(S) CMV', 'P-CMV', 'SIMV', 'APV (simv)'
                    , 'P-SIMV', 'VS', 'ASV'
                )
                THEN 'InvasiveVent'
            WHEN od.o2_delivery_device_1 IN ('Bipap mask ', 'CPAP mask ')
                OR vs.ventilator_mode_hamilton IN ('DuoPaP', 'NIV', 'NIV-ST')
                THEN 'NonInvasiveVent'
            WHEN od.o2_delivery_device_1 IN ('High flow nasal cannula')
                THEN 'HFNC'
            WHEN od.o2_delivery_device_1 IN (
                'Non-rebreather', 'Face tent', 'Aerosol-cool', 'Venti mask '
                , 'Medium conc mask ', 'Ultrasonic neb', 'Vapomist', 'Oxymizer'
                , 'High flow neb', 'Nasal cannula'
            )
                THEN 'SupplementalOxygen'
            WHEN od.o2_delivery_device_1 IN ('None')
                THEN 'None'
        END AS ventilation_status
    FROM tm
    LEFT JOIN mimiciv_derived.ventilator_setting AS vs
        ON tm.stay_id = vs.stay_id
            AND tm.charttime = vs.charttime
    LEFT JOIN mimiciv_derived.oxygen_delivery AS od
        ON tm.stay_id = od.stay_id
            AND tm.charttime = od.charttime
    WHERE tm.stay_id IS NOT NULL
)

, vd0 AS (
    SELECT
        stay_id
        , charttime
        , ventilation_status
        -- previous charting with the same status
        , LAG(charttime) OVER (PARTITION BY stay_id, ventilation_status ORDER BY charttime) AS charttime_lag
        -- next charting of any status: the end of a state
        , LEAD(charttime) OVER w AS charttime_lead
        , LAG(ventilation_status) OVER w AS ventilation_status_lag
    FROM vs
    WHERE ventilation_status IS NOT NULL
    WINDOW w AS (PARTITION BY stay_id ORDER BY charttime)
)

, vd1 AS (
    SELECT
        *
        , CASE
            WHEN date_diff('second', charttime_lag, charttime) >= 14 * 3600 THEN 1
            WHEN ventilation_status_lag IS NULL THEN 1
            WHEN ventilation_status_lag != ventilation_status THEN 1
            ELSE 0
        END AS new_status
    FROM vd0
)

, vd2 AS (
    SELECT
        *
        , SUM(new_status) OVER (
            PARTITION BY stay_id ORDER BY charttime ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS vent_num
    FROM vd1
)

SELECT
    stay_id
    , MIN(charttime) AS starttime
    , MAX(CASE
        WHEN charttime_lead IS NULL OR date_diff('second', charttime, charttime_lead) >= 14 * 3600
            THEN charttime
        ELSE charttime_lead
    END) AS endtime
    , MAX(ventilation_status) AS ventilation_status
FROM vd2
GROUP BY stay_id, vent_num
HAVING MIN(charttime) != MAX(charttime)
