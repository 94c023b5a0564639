-- mimiciv_derived.sepsis3: ICU stays meeting Sepsis-3 in the ICU with the standard
-- parameters: a suspected infection with a 24-hour SOFA >= 2 whose end lies from 48 h before
-- to 24 h after the suspected infection time (the rule itself: sepsis3_rule.sql).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/sepsis/sepsis3.sql ("sofa_score >= 2",
-- "BETWEEN suspected_infection_time - INTERVAL '48' HOUR AND ... + INTERVAL '24' HOUR");
-- Singer M et al., JAMA 2016;315(8):801-810 (Sepsis-3: an acute increase in SOFA of 2 or
-- more, baseline assumed 0; the 48 h / 24 h window of Seymour CW et al., JAMA 2016;315(8):762-774).
SELECT *
FROM sepsis3_rule(2, 48, 24)
