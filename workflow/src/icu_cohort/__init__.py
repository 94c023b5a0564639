"""icu-cohort: observational treatment-effect studies on MIMIC-IV.

The package holds every piece of logic; the Snakemake rules and ``workflow/scripts`` only
wire files to it. Modules:

* :mod:`icu_cohort.mimic_tables` -- the MIMIC-IV tables read, with their headers and types;
* :mod:`icu_cohort.loader` -- header checks, CSV to Parquet, ``mimiciv_hosp.*`` / ``mimiciv_icu.*`` views;
* :mod:`icu_cohort.synth` -- the synthetic MIMIC-IV generator with a planted effect;
* :mod:`icu_cohort.config` -- loading and validating the run and study configuration;
* :mod:`icu_cohort.cohort` -- running the SQL concepts into ``cohort.parquet`` and ``attrition.csv``;
* :mod:`icu_cohort.analysis` -- propensity scores, matching, balance, survival, Cox, IPTW;
* :mod:`icu_cohort.report` -- the self-contained HTML report.
"""

__version__ = "0.1.0"
