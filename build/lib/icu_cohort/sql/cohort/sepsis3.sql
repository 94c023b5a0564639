-- study.sepsis3: the ICU stays meeting Sepsis-3 under the study's window: a suspected
-- infection with a 24-hour SOFA >= ${sepsis3_sofa_threshold} whose end lies from
-- ${sepsis3_hours_before} h before to ${sepsis3_hours_after} h after it. With the standard
-- parameters (2, 48, 24) this is mimiciv_derived.sepsis3 row for row.
-- Source: the macro sepsis3_rule (sql/sepsis/sepsis3_rule.sql: MIT-LCP mimic-code,
-- mimic-iv/concepts/sepsis/sepsis3.sql; Singer M et al., JAMA 2016) over the concepts
-- mimiciv_derived.sofa and suspicion_of_infection; the window from the study file
-- (cohort.sepsis3).
SELECT *
FROM sepsis3_rule(${sepsis3_sofa_threshold}, ${sepsis3_hours_before}, ${sepsis3_hours_after})
