-- study.cohort: one row per ICU stay of the final cohort (study.final_stay) with the
-- exposure (study.exposure), the outcome (study.outcome) and every covariate the SQL
-- knows: demographics, first-day vitals, labs, scores, treatments, comorbidities.
-- The runner (icu_cohort.cohort) keeps the covariates the study file lists and renames
-- first_dose_hours / total_dose_g to <exposure name>_first_dose_hours / _total_dose_g.
-- Scores: sofa = mimiciv_derived.first_day_sofa.sofa; gcs_min = first_day_gcs.gcs_min;
-- charlson = mimiciv_derived.charlson.charlson_comorbidity_index (per admission);
-- apsiii = mimiciv_derived.apsiii.apsiii (sources: mimic-code and the papers cited in
-- those files).
SELECT
    f.subject_id
    , f.hadm_id
    , f.stay_id
    , f.intime
    , e.treated
    , o.time_days
    , o.death_28d
    , o.death_time
    , dem.* EXCLUDE (stay_id)
    , vit.* EXCLUDE (stay_id)
    , lab.* EXCLUDE (stay_id)
    , CAST(fs.sofa AS DOUBLE) AS sofa
    , CAST(fg.gcs_min AS DOUBLE) AS gcs_min
    , CAST(ch.charlson_comorbidity_index AS DOUBLE) AS charlson
    , CAST(ap.apsiii AS DOUBLE) AS apsiii
    , trt.* EXCLUDE (stay_id)
    , com.* EXCLUDE (stay_id)
    , e.first_dose_hours
    , e.total_dose_g
FROM study.final_stay AS f
LEFT JOIN study.exposure AS e ON f.stay_id = e.stay_id
LEFT JOIN study.outcome AS o ON f.stay_id = o.stay_id
LEFT JOIN study.covariate_demographics AS dem ON f.stay_id = dem.stay_id
LEFT JOIN study.covariate_vitals AS vit ON f.stay_id = vit.stay_id
LEFT JOIN study.covariate_labs AS lab ON f.stay_id = lab.stay_id
LEFT JOIN mimiciv_derived.first_day_sofa AS fs ON f.stay_id = fs.stay_id
LEFT JOIN mimiciv_derived.first_day_gcs AS fg ON f.stay_id = fg.stay_id
LEFT JOIN mimiciv_derived.charlson AS ch ON f.hadm_id = ch.hadm_id
LEFT JOIN mimiciv_derived.apsiii AS ap ON f.stay_id = ap.stay_id
LEFT JOIN study.covariate_treatments AS trt ON f.stay_id = trt.stay_id
LEFT JOIN study.covariate_comorbidities AS com ON f.stay_id = com.stay_id
ORDER BY f.stay_id
