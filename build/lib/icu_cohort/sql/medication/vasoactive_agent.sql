-- mimiciv_derived.vasoactive_agent: one row per ICU stay and interval [starttime, endtime)
-- between consecutive start/stop times of any vasoactive infusion, with the rate of each
-- agent running throughout that interval (dopamine, epinephrine, norepinephrine,
-- phenylephrine, dobutamine, milrinone in mcg/kg/min; vasopressin in units/hour).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/vasoactive_agent.sql.
WITH drug AS (
    SELECT agent, stay_id, vaso_rate, starttime, endtime FROM mimiciv_derived.vasoactive_infusion
)

-- every start and stop time of any agent
, tm AS (
    SELECT stay_id, starttime AS vasotime FROM drug
    UNION
    SELECT stay_id, endtime AS vasotime FROM drug
)

, tm_lag AS (
    SELECT
        stay_id
        , vasotime AS starttime
        , LEAD(vasotime) OVER (PARTITION BY stay_id ORDER BY vasotime) AS endtime
    FROM tm
    WHERE vasotime IS NOT NULL
)

-- the rate of each agent whose infusion spans the whole interval
SELECT
    t.stay_id
    , t.starttime
    , t.endtime
    , MAX(CASE WHEN d.agent = 'dopamine' THEN d.vaso_rate END) AS dopamine
    , MAX(CASE WHEN d.agent = 'epinephrine' THEN d.vaso_rate END) AS epinephrine
    , MAX(CASE WHEN d.agent = 'norepinephrine' THEN d.vaso_rate END) AS norepinephrine
    , MAX(CASE WHEN d.agent = 'phenylephrine' THEN d.vaso_rate END) AS phenylephrine
    , MAX(CASE WHEN d.agent = 'vasopressin' THEN d.vaso_rate END) AS vasopressin
    , MAX(CASE WHEN d.agent = 'dobutamine' THEN d.vaso_rate END) AS dobutamine
    , MAX(CASE WHEN d.agent = 'milrinone' THEN d.vaso_rate END) AS milrinone
FROM tm_lag AS t
LEFT JOIN drug AS d
    ON t.stay_id = d.stay_id
        AND t.starttime >= d.starttime
        AND t.endtime <= d.endtime
WHERE t.endtime IS NOT NULL
GROUP BY t.stay_id, t.starttime, t.endtime
