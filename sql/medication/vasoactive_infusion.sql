-- mimiciv_derived.vasoactive_infusion: every vasoactive infusion of every ICU stay in one long
-- table: agent, stay_id, vaso_rate, vaso_amount, starttime, endtime (rates and amounts as in
-- each agent's table: mcg/kg/min, vasopressin units/hour). The one place the per-agent tables
-- are stacked, read by vasoactive_agent.sql, score/sofa.sql, firstday/first_day_sofa.sql and
-- the study layer's cohort/covariate_treatments.sql and cohort/criterion_treatment.sql.
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/vasoactive_agent.sql (its `drug`
-- step) and the per-agent concepts (norepinephrine.sql, epinephrine.sql, ...).
SELECT 'dobutamine' AS agent, stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.dobutamine
UNION ALL
SELECT 'dopamine', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.dopamine
UNION ALL
SELECT 'epinephrine', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.epinephrine
UNION ALL
SELECT 'norepinephrine', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.norepinephrine
UNION ALL
SELECT 'phenylephrine', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.phenylephrine
UNION ALL
SELECT 'vasopressin', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.vasopressin
UNION ALL
SELECT 'milrinone', stay_id, vaso_rate, vaso_amount, starttime, endtime FROM mimiciv_derived.milrinone
