"""Statistical analysis of a study: propensity score, matching, balance, survival, Cox, IPTW.

Entry point: :func:`run_analysis` (``cohort``, ``covariates``, the study's ``analysis:``
section, ``out_dir``, ``study_name``) writes the result files and returns the estimates.

Modules (small pure functions, each documenting what its numbers mean):

* :mod:`.options` -- the ``analysis:`` schema and its defaults;
* :mod:`.propensity` -- design matrix, missing values, logistic score, c-statistic;
* :mod:`.matching` -- nearest-neighbour matching (MatchIt semantics; psmpy engine);
* :mod:`.balance` -- SMDs, variance ratios, Table 1;
* :mod:`.survival` -- Kaplan-Meier, at-risk counts, log-rank, risks, risk difference;
* :mod:`.cox` -- Cox models and proportional-hazards tests;
* :mod:`.weighting` -- IPTW weights, truncation, effective sample size;
* :mod:`.evalue` -- E-values;
* :mod:`.pooling` -- Rubin's rules;
* :mod:`.subgroups` -- subgroup HRs and interaction tests;
* :mod:`.run` -- the orchestration and atomic writing.
"""

from .run import OUTPUT_FILES, run_analysis

__all__ = ["OUTPUT_FILES", "run_analysis"]
