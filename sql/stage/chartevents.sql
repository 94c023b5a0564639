-- stage.chartevents (a view): the rows of mimiciv_icu.chartevents that any concept below
-- reads, i.e. chartevents restricted to one itemid list. The SQL is a view (so every engine
-- the concepts are exported to runs it as written); the concepts stage's folder build
-- (icu_cohort.concepts) then writes it once to a Parquet working copy and the later concepts
-- read that copy. Why: DuckDB (2.0) applies this list, and a concept's own IN list, only after
-- decoding every row of the Parquet scan (an IN list is an "optional" statistics filter there;
-- only an equality on itemid is pushed into the scan), so each concept reading the view
-- decoded all of chartevents again. Measured on a MIMIC-IV-sized set (362 M rows): the copy
-- holds 61 M rows and takes about 23 s, and the whole concepts stage went from 152 s to 110 s.
-- Source of the itemid list: the union of the itemids named in the MIT-LCP mimic-code
-- concepts implemented here (mimic-iv/concepts/measurement/gcs.sql, vitalsign.sql, bg.sql,
-- ventilator_setting.sql, oxygen_delivery.sql, demographics/icustay_times.sql,
-- weight_durations.sql, treatment/rrt.sql), and those of measurement/cam_icu.sql (CAM-ICU;
-- not a mimic-code concept). tests/test_cohort_runner.py checks that every chartevents itemid
-- used by a concept file is listed here (tests/test_sql_definitions.py for cam_icu.sql).
CREATE OR REPLACE VIEW stage.chartevents AS
SELECT
    ce.subject_id
    , ce.hadm_id
    , ce.stay_id
    , ce.charttime
    , ce.storetime
    , ce.itemid
    , ce.value
    , ce.valuenum
    , ce.valueuom
FROM mimiciv_icu.chartevents AS ce
WHERE ce.itemid IN (
    -- GCS (gcs.sql)
    223900, 223901, 220739
    -- vital signs (vitalsign.sql); 220045 heart rate is also icustay_times' clock
    , 220045, 225309, 225310, 225312, 220050, 220051, 220052, 220179, 220180, 220181
    , 220210, 224690, 220277, 225664, 220621, 226537, 223762, 223761, 224642
    -- FiO2 (bg.sql, ventilator_setting.sql) and ventilator settings (ventilator_setting.sql)
    , 223835, 224688, 224689, 224687, 224685, 224684, 224686, 224696, 220339, 224700
    , 223849, 229314, 223848, 224691
    -- oxygen delivery (oxygen_delivery.sql)
    , 223834, 227582, 227287, 226732
    -- weight (weight_durations.sql)
    , 226512, 224639
    -- renal replacement therapy (rrt.sql)
    , 226118, 227357, 225725, 226499, 224154, 225810, 227639, 225183, 227438, 224191
    , 225806, 225807, 228004, 228005, 228006, 224144, 224145, 224149, 224150, 224151
    , 224152, 224153, 224404, 224406, 226457, 225959, 224135, 224139, 224146, 225323
    , 225740, 225776, 225951, 225952, 225953, 225954, 225956, 225958, 225961, 225963
    , 225965, 225976, 225977, 227124, 227290, 227638, 227640, 227753
    -- CAM-ICU features and the overall delirium assessment (cam_icu.sql)
    , 228300, 228337, 229326, 228301, 228336, 229325, 228302, 228334, 228303, 228335, 229324
    , 228332
)
