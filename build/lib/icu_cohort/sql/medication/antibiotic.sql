-- mimiciv_derived.antibiotic: systemic antibiotic prescriptions (hosp.prescriptions), with
-- the ICU stay during which each one started (stay_id NULL when it started outside an ICU
-- stay of the same admission).
-- Source: MIT-LCP mimic-code, mimic-iv/concepts/medication/antibiotic.sql: the same list of
-- drug-name fragments (generic and brand names, matched case-insensitively anywhere in the
-- drug name); drug_type 'BASE' excluded; routes via the eye, ear or skin excluded
-- ('OU', 'OS', 'OD', 'AU', 'AS', 'AD', 'TP', any route containing 'ear' or 'eye'); creams,
-- gels, ophthalmic ointments and desensitisation protocols excluded.
WITH name_fragment AS (
    SELECT fragment
    FROM (VALUES
        ('%adoxa%'), ('%ala-tet%'), ('%alodox%'), ('%amikacin%')
        , ('%amikin%'), ('%amoxicill%'), ('%amphotericin%'), ('%anidulafungin%'), ('%ancef%')
        , ('%clavulanate%'), ('%ampicillin%'), ('%augmentin%'), ('%avelox%'), ('%avidoxy%')
        , ('%azactam%'), ('%azithromycin%'), ('%aztreonam%'), ('%axetil%'), ('%bactocill%')
        , ('%bactrim%'), ('%bactroban%'), ('%bethkis%'), ('%biaxin%'), ('%bicillin l-a%')
        , ('%cayston%'), ('%cefazolin%'), ('%cedax%'), ('%cefoxitin%'), ('%ceftazidime%')
        , ('%cefaclor%'), ('%cefadroxil%'), ('%cefdinir%'), ('%cefditoren%'), ('%cefepime%')
        , ('%cefotan%'), ('%cefotetan%'), ('%cefotaxime%'), ('%ceftaroline%'), ('%cefpodoxime%')
        , ('%cefpirome%'), ('%cefprozil%'), ('%ceftibuten%'), ('%ceftin%'), ('%ceftriaxone%')
        , ('%cefuroxime%'), ('%cephalexin%'), ('%cephalothin%'), ('%cephapririn%'), ('%chloramphenicol%')
        , ('%cipro%'), ('%ciprofloxacin%'), ('%claforan%'), ('%clarithromycin%'), ('%cleocin%')
        , ('%clindamycin%'), ('%cubicin%'), ('%dicloxacillin%'), ('%dirithromycin%'), ('%doryx%')
        , ('%doxycy%'), ('%duricef%'), ('%dynacin%'), ('%ery-tab%'), ('%eryped%'), ('%eryc%')
        , ('%erythrocin%'), ('%erythromycin%'), ('%factive%'), ('%flagyl%'), ('%fortaz%')
        , ('%furadantin%'), ('%garamycin%'), ('%gentamicin%'), ('%kanamycin%'), ('%keflex%')
        , ('%kefzol%'), ('%ketek%'), ('%levaquin%'), ('%levofloxacin%'), ('%lincocin%')
        , ('%linezolid%'), ('%macrobid%'), ('%macrodantin%'), ('%maxipime%'), ('%mefoxin%')
        , ('%metronidazole%'), ('%meropenem%'), ('%methicillin%'), ('%minocin%'), ('%minocycline%')
        , ('%monodox%'), ('%monurol%'), ('%morgidox%'), ('%moxatag%'), ('%moxifloxacin%')
        , ('%mupirocin%'), ('%myrac%'), ('%nafcillin%'), ('%neomycin%'), ('%nicazel doxy 30%')
        , ('%nitrofurantoin%'), ('%norfloxacin%'), ('%noroxin%'), ('%ocudox%'), ('%ofloxacin%')
        , ('%omnicef%'), ('%oracea%'), ('%oraxyl%'), ('%oxacillin%'), ('%pc pen vk%'), ('%pce dispertab%')
        , ('%panixine%'), ('%pediazole%'), ('%penicillin%'), ('%periostat%'), ('%pfizerpen%')
        , ('%piperacillin%'), ('%tazobactam%'), ('%primsol%'), ('%proquin%'), ('%raniclor%')
        , ('%rifadin%'), ('%rifampin%'), ('%rocephin%'), ('%smz-tmp%'), ('%septra%'), ('%septra ds%')
        , ('%solodyn%'), ('%spectracef%'), ('%streptomycin%'), ('%sulfadiazine%'), ('%sulfamethoxazole%')
        , ('%trimethoprim%'), ('%sulfatrim%'), ('%sulfisoxazole%'), ('%suprax%'), ('%synercid%')
        , ('%tazicef%'), ('%tetracycline%'), ('%timentin%'), ('%tobramycin%'), ('%unasyn%')
        , ('%vancocin%'), ('%vancomycin%'), ('%vantin%'), ('%vibativ%'), ('%vibra-tabs%')
        , ('%vibramycin%'), ('%zinacef%'), ('%zithromax%'), ('%zosyn%'), ('%zyvox%')
    ) AS t(fragment)
)

, abx AS (
    SELECT DISTINCT drug, route
    FROM mimiciv_hosp.prescriptions
    WHERE drug_type NOT IN ('BASE')
        AND route NOT IN ('OU', 'OS', 'OD', 'AU', 'AS', 'AD', 'TP')
        AND lower(route) NOT LIKE '%ear%'
        AND lower(route) NOT LIKE '%eye%'
        AND lower(drug) NOT LIKE '%cream%'
        AND lower(drug) NOT LIKE '%desensitization%'
        AND lower(drug) NOT LIKE '%ophth oint%'
        AND lower(drug) NOT LIKE '%gel%'
        AND EXISTS (SELECT 1 FROM name_fragment AS f WHERE lower(drug) LIKE f.fragment)
)

SELECT
    pr.subject_id
    , pr.hadm_id
    , ie.stay_id
    , pr.drug AS antibiotic
    , pr.route
    , pr.starttime
    , pr.stoptime
FROM mimiciv_hosp.prescriptions AS pr
INNER JOIN abx
    ON pr.drug = abx.drug
        AND pr.route = abx.route
LEFT JOIN mimiciv_icu.icustays AS ie
    ON pr.hadm_id = ie.hadm_id
        AND pr.starttime >= ie.intime
        AND pr.starttime < ie.outtime
