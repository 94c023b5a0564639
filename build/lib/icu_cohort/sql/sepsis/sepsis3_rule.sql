-- sepsis3_rule(sofa_threshold, hours_before, hours_after): a table macro giving the ICU
-- stays meeting Sepsis-3 in the ICU under the given window: the earliest suspected infection
-- (mimiciv_derived.suspicion_of_infection, antibiotic started during the stay) that has a
-- 24-hour SOFA (mimiciv_derived.sofa, every ICU hour) >= sofa_threshold with its end time
-- within [suspected infection time - hours_before h, suspected infection time + hours_after h].
-- Baseline SOFA is assumed 0, as in mimic-code. Every row has sepsis3 = true.
-- The concept mimiciv_derived.sepsis3 (sepsis3.sql) is this rule with the standard
-- parameters; a study with another window calls it with its own (sql/cohort/sepsis3.sql).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/sepsis/sepsis3.sql; Singer M et al.,
-- JAMA 2016;315(8):801-810 (Sepsis-3).
CREATE OR REPLACE MACRO sepsis3_rule(sofa_threshold, hours_before, hours_after) AS TABLE
    WITH sofa AS (
        SELECT
            stay_id
            , starttime
            , endtime
            , respiration_24hours AS respiration
            , coagulation_24hours AS coagulation
            , liver_24hours AS liver
            , cardiovascular_24hours AS cardiovascular
            , cns_24hours AS cns
            , renal_24hours AS renal
            , sofa_24hours AS sofa_score
        FROM mimiciv_derived.sofa
        WHERE sofa_24hours >= sofa_threshold
    )

    , s1 AS (
        SELECT
            soi.subject_id
            , soi.stay_id
            , soi.ab_id
            , soi.antibiotic
            , soi.antibiotic_time
            , soi.culture_time
            , soi.suspected_infection
            , soi.suspected_infection_time
            , soi.specimen
            , soi.positive_culture
            , sofa.starttime
            , sofa.endtime
            , sofa.respiration
            , sofa.coagulation
            , sofa.liver
            , sofa.cardiovascular
            , sofa.cns
            , sofa.renal
            , sofa.sofa_score
            , sofa.sofa_score >= sofa_threshold AND soi.suspected_infection = 1 AS sepsis3
            , ROW_NUMBER() OVER (
                PARTITION BY soi.stay_id
                ORDER BY soi.suspected_infection_time, soi.antibiotic_time, soi.culture_time, sofa.endtime, soi.ab_id
            ) AS rn_sus
        FROM mimiciv_derived.suspicion_of_infection AS soi
        INNER JOIN sofa
            ON soi.stay_id = sofa.stay_id
                AND sofa.endtime >= soi.suspected_infection_time - to_seconds(hours_before * 3600.0)
                AND sofa.endtime <= soi.suspected_infection_time + to_seconds(hours_after * 3600.0)
        WHERE soi.stay_id IS NOT NULL
    )

    SELECT
        subject_id
        , stay_id
        , antibiotic_time
        , culture_time
        , suspected_infection_time
        , endtime AS sofa_time
        , sofa_score
        , respiration
        , coagulation
        , liver
        , cardiovascular
        , cns
        , renal
        , sepsis3
    FROM s1
    WHERE rn_sus = 1;
