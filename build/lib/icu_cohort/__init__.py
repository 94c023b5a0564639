"""icu-cohort: observational treatment-effect studies on MIMIC-IV.

The package holds every piece of logic; the Snakemake rules and ``workflow/scripts`` only
wire files to it. Modules:

* :mod:`icu_cohort.mimic_tables` -- the MIMIC-IV tables read, with their headers and types;
* :mod:`icu_cohort.loader` -- header checks, CSV to Parquet, ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` views;
* :mod:`icu_cohort.synth` -- the synthetic MIMIC-IV generator with a planted effect;
* :mod:`icu_cohort.config` -- validating YAML against the JSON Schemas;
* :mod:`icu_cohort.study` -- the :class:`~icu_cohort.study.Study` object: one study, validated once;
* :mod:`icu_cohort.resources` -- where the SQL, schemas and synthetic parameters are (checkout or wheel);
* :mod:`icu_cohort.artifacts` -- the stage agreements (paths, files, columns, ``estimates.json`` keys)
  and the one atomic-write helper;
* :mod:`icu_cohort.sqlrun` -- running our SQL files with parameters;
* :mod:`icu_cohort.concepts` -- the derived concepts (``mimiciv_derived``), once per data source;
* :mod:`icu_cohort.cohort` -- the study layer: eligibility, exposure, outcome, covariates, attrition;
* :mod:`icu_cohort.pipeline` -- the stages as functions of paths, called by the Snakemake scripts;
* :mod:`icu_cohort.analysis` -- propensity scores, matching, balance, survival, Cox, IPTW;
* :mod:`icu_cohort.report` -- the self-contained HTML report.
"""

__version__ = "0.2.0"
