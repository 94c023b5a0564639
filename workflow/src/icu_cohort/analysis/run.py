"""``run_analysis``: the whole statistical analysis of one study, written atomically.

Order of work: score model -> matching -> balance and Table 1 -> Kaplan-Meier, log-rank,
28-day mortality, risk difference -> Cox (matched; multivariable) -> proportional-hazards
tests -> IPTW -> E-value -> subgroups. Everything is computed in memory first; the files are
then written to a temporary folder inside ``out_dir`` and moved into place one by one with
``os.replace`` (each file is either the previous complete version or the new complete one;
on any error nothing in ``out_dir`` changes).

With ``propensity.missing.method = multiple_imputation`` the score, matching, matched Cox,
multivariable Cox, IPTW and matched risk difference are computed in each of the ``m``
imputed data sets; ``cox_matched``, ``cox_multivariable`` (and every term of
``cox_multivariable.csv``), ``iptw`` and ``risk_difference`` in ``estimates.json`` are pooled
by Rubin's rules (on the log-HR and risk-difference scales). Everything else -- the files
``propensity.parquet``, ``matched.parquet``, balance, Table 1, Kaplan-Meier, PH tests,
subgroups, and the crude mortality figures -- describes imputation 1; balance and Table 1 are
always computed on the observed (unimputed) covariate values.

Secondary outcomes (the study's ``outcome.secondary``; cohort columns ``<name>`` and
``<name>_time_days``) are analysed with the same functions as the primary outcome, on the same
samples: events and risk by arm in the cohort and in the matched sample (for ``death_within``
also ``1 - KM`` at its horizon), the matched risk difference (cluster-robust by matched set) and
the matched Cox hazard ratio (robust, clustered on ``pair_id``; not estimable when an arm has no
events), pooled by Rubin's rules under multiple imputation as the primary's are. They are
``estimates.json["secondary_outcomes"]`` (keys: :data:`icu_cohort.artifacts.SECONDARY_OUTCOME_KEYS`);
a study without secondary outcomes has no such key and the same ``estimates.json`` as before.
For ``in_hospital_death`` (censored at hospital discharge) the risk is the crude proportion and
the hazard ratio is that of the cause-specific hazard of death in hospital.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import artifacts as A
from . import balance as bal
from . import cox as coxm
from . import evalue as ev
from . import matching as mt
from . import propensity as pr
from . import survival as sv
from . import weighting as wt
from .options import with_defaults
from .periods import exposure_by_period
from .pooling import rubin
from .subgroups import subgroup_table

REQUIRED_COLUMNS = ("stay_id", "treated", "time_days", "death_28d")  # of artifacts.COHORT
NA_EFFECT = dict(hr=float("nan"), ci95=[float("nan"), float("nan")], p=float("nan"),
                 log_hr=float("nan"), se=float("nan"))


class AnalysisError(ValueError):
    """The cohort cannot be analysed at all (e.g. no stay could be matched)."""


def _guard(label: str, notes: list, fn, fallback):
    """Run a secondary computation; on failure record ``label: error`` in ``notes`` and
    return ``fallback`` so one failed model (e.g. no events in a small cohort) does not stop
    the files from being written."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported in estimates["warnings"]
        notes.append(f"{label}: {type(exc).__name__}: {exc}")
        return fallback
GROUP_WORD = {1: "treated", 0: "control"}


def _no_events_arm(frame: pd.DataFrame) -> str | None:
    """The group (treated / control) of ``frame`` without a single event, if any: a Cox model
    would then drive the log hazard ratio towards -inf or +inf and report a finite, meaningless
    estimate with a tight interval, so the hazard ratio is not estimable."""
    for g in (1, 0):
        if frame.loc[frame["treated"] == g, "event"].sum() == 0:
            return GROUP_WORD[g]
    return None


def _fit_if_estimable(label: str, notes: list, frame: pd.DataFrame, fn):
    """``fn()`` when both groups of ``frame`` have events, else None with a note."""
    arm = _no_events_arm(frame)
    if arm is not None:
        notes.append(f"{label}: no deaths among the {arm} stays; the hazard ratio is not estimable")
        return None
    return _guard(label, notes, fn, None)

#: The files :func:`run_analysis` writes into its output folder (the Snakemake rule's outputs).
OUTPUT_FILES = tuple(artifact.name for artifact in A.ANALYSIS_OUTPUTS)


def _check_cohort(cohort: pd.DataFrame, covariates: list[dict]) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in cohort.columns]
    missing += [c["name"] for c in covariates if c["name"] not in cohort.columns]
    if missing:
        raise KeyError(f"cohort lacks the column(s): {', '.join(missing)}")
    df = cohort.reset_index(drop=True)
    for c in ("treated", "death_28d"):
        vals = set(pd.unique(df[c].dropna()))
        if df[c].isna().any() or not vals <= {0, 1, True, False}:
            raise ValueError(f"cohort column {c!r} must be 0/1 without missing values")
    if df["time_days"].isna().any() or (df["time_days"] < 0).any():
        raise ValueError("cohort column 'time_days' must be >= 0 without missing values")
    if df["stay_id"].duplicated().any():
        raise ValueError("cohort has duplicate stay_id values")
    n1 = int(df["treated"].sum())
    if n1 == 0 or n1 == len(df):
        raise ValueError(
            f"the cohort has {len(df)} stay(s), {n1} treated and {len(df) - n1} untreated: both "
            "groups are needed for propensity scores and matching (see attrition.csv for where "
            "stays were excluded)")
    for cov in covariates:
        if cov["type"] not in ("continuous", "binary", "categorical"):
            raise ValueError(f"covariate {cov['name']!r}: type must be continuous, binary or "
                             f"categorical, not {cov['type']!r}")
    return df


def _check_secondary(df: pd.DataFrame, secondary: list[dict]) -> None:
    """Each secondary outcome's two columns present, 0/1 and days >= 0, none missing."""
    for spec in secondary:
        name = spec["name"]
        event, time = _secondary_columns(spec)
        absent = [c for c in (event, time) if c not in df.columns]
        if absent:
            raise KeyError(f"cohort lacks the column(s) {', '.join(absent)} of the secondary outcome {name!r} "
                           "(outcome.secondary of the study; rebuild the cohort stage)")
        vals = set(pd.unique(df[event].dropna()))
        if df[event].isna().any() or not vals <= {0, 1, True, False}:
            raise ValueError(f"cohort column {event!r} (secondary outcome) must be 0/1 without missing values")
        if df[time].isna().any() or (df[time] < 0).any():
            raise ValueError(f"cohort column {time!r} (secondary outcome) must be >= 0 without missing values")


def _secondary_columns(spec: dict) -> tuple[str, str]:
    """The cohort columns of one secondary outcome: event (0/1) and time (days)."""
    return spec["name"], f"{spec['name']}_time_days"


def _surv_frame(cohort, rows, weights=None, extra=None, event="death_28d", time="time_days"):
    """``time, event, treated`` (and ``weight``, ``extra`` columns) of the stays ``rows``;
    ``event`` / ``time`` name the outcome's cohort columns (default: the primary outcome)."""
    d = pd.DataFrame({"time": cohort[time].to_numpy(float)[rows],
                      "event": cohort[event].to_numpy(int)[rows],
                      "treated": cohort["treated"].to_numpy(int)[rows]})
    if weights is not None:
        d["weight"] = np.asarray(weights, float)
    if extra is not None:
        for k, v in extra.items():
            d[k] = v
    return d


def _multivariable(cohort, design, opts):
    d = pd.concat([_surv_frame(cohort, np.arange(len(cohort))),
                   design.X.reset_index(drop=True)], axis=1)
    pen = float(opts["cox"]["penalizer"])
    note = None
    try:
        cph = coxm.fit_cox(d, "time", "event", penalizer=pen, alpha=opts["alpha"])
    except Exception as exc:  # lifelines ConvergenceError and friends
        pen = max(pen, 0.01)
        note = f"unpenalised fit failed ({type(exc).__name__}); refitted with penalizer {pen}"
        cph = coxm.fit_cox(d, "time", "event", penalizer=pen, alpha=opts["alpha"])
    return cph, d, pen, note


def _matched_effects(msurv: pd.DataFrame, use_w: bool, alpha: float, notes: list, label: str = ""):
    """The matched Cox fit (None when an arm has no events or the fit fails, with a note), its
    treatment effect and the matched risk difference of one outcome (``msurv``:
    :func:`_surv_frame` of the matched stays with ``pair_id``). ``label`` prefixes the notes."""
    mcols = ["time", "event", "treated", "pair_id"] + (["weight"] if use_w else [])
    cph = _fit_if_estimable(f"{label}matched Cox", notes, msurv, lambda: coxm.fit_cox(
        msurv[mcols], "time", "event", cluster="pair_id", weights="weight" if use_w else None,
        alpha=alpha))
    effect = coxm.term_effect(cph, "treated") if cph is not None else dict(NA_EFFECT)
    rd = sv.risk_difference(msurv["event"], msurv["treated"], cluster=msurv["pair_id"],
                            weights=msurv["weight"].to_numpy() if use_w else None, alpha=alpha)
    return cph, effect, rd


def _secondary_label(spec: dict) -> str:
    return f"secondary outcome {spec['name']}: "


def _one_dataset(cohort: pd.DataFrame, design: pr.Design, opts: dict,
                 secondary: list[dict] | None = None) -> dict:
    """Score, matching and effect estimates in one (possibly imputed) data set; for each
    secondary outcome, its matched sample frame, matched Cox effect and risk difference."""
    alpha = opts["alpha"]
    treated = cohort["treated"].to_numpy(int)
    pso = opts["propensity"]
    fit = pr.fit_propensity(design.X, treated, penalty=pso["penalty"], C=pso["C"],
                            max_iter=pso["max_iter"])
    mo = opts["matching"]
    m_order = None if mo["m_order"] == "default" else mo["m_order"]
    res = mt.match(fit.ps, treated, estimand=mo["estimand"], ratio=mo["ratio"],
                   caliper_sd=mo["caliper_sd"], scale=mo["scale"],
                   sd_sample=mo["caliper_sd_sample"], m_order=m_order, seed=opts["seed"],
                   engine=mo["engine"])
    mf = mt.matched_frame(res, cohort["stay_id"].to_numpy(), treated, fit.ps)
    if mf.empty:
        raise AnalysisError(
            f"no {GROUP_WORD[res.focal_group]} stay (the focal group, {len(res.focal_index)} "
            f"stays) found a match within the caliper ({res.caliper}); the cohort is too "
            f"small or the groups do not overlap")
    rows = mf["_row"].to_numpy()
    w = mf["match_weight"].to_numpy()
    use_w = not np.allclose(w, 1.0)
    pairs = {"pair_id": mf["pair_id"].to_numpy()}
    msurv = _surv_frame(cohort, rows, w, pairs)
    notes: list = []
    cph_m, cox_matched, rd = _matched_effects(msurv, use_w, alpha, notes)
    sec = []
    for spec in secondary or []:
        event, time = _secondary_columns(spec)
        s_frame = _surv_frame(cohort, rows, w, pairs, event=event, time=time)
        _, s_cox, s_rd = _matched_effects(s_frame, use_w, alpha, notes, _secondary_label(spec))
        sec.append(dict(spec=spec, msurv=s_frame, cox_matched=s_cox, rd=s_rd))
    mv_fallback = (None, None, float(opts["cox"]["penalizer"]), None)
    mv_arm = _no_events_arm(_surv_frame(cohort, np.arange(len(cohort))))
    if mv_arm is not None:
        notes.append(f"multivariable Cox: no deaths among the {mv_arm} stays; the hazard ratio is not estimable")
        cph_mv, mv_frame, mv_pen, mv_note = mv_fallback
    else:
        cph_mv, mv_frame, mv_pen, mv_note = _guard(
            "multivariable Cox", notes, lambda: _multivariable(cohort, design, opts), mv_fallback)
    cox_mv = coxm.term_effect(cph_mv, "treated") if cph_mv is not None else dict(NA_EFFECT)

    io = opts["iptw"]
    iptw_est = res.estimand if io["estimand"] == "matching" else io["estimand"]
    w_raw = wt.iptw_weights(fit.ps, treated, iptw_est, io["stabilized"])
    w_ip = wt.truncate(w_raw, io["truncate_percentiles"])
    ip_frame = _surv_frame(cohort, np.arange(len(cohort)), w_ip)
    ip_frame = ip_frame[ip_frame["weight"] > 1e-12]
    cph_ip = _fit_if_estimable("IPTW Cox", notes, ip_frame, lambda: coxm.fit_cox(
        ip_frame, "time", "event", weights="weight", robust=True, alpha=alpha))
    iptw = coxm.term_effect(cph_ip, "treated") if cph_ip is not None else dict(NA_EFFECT)
    t1 = treated == 1
    iptw.update(
        estimand=iptw_est, stabilized=bool(io["stabilized"]),
        truncation_percentiles=io["truncate_percentiles"],
        truncation_limits=(None if io["truncate_percentiles"] is None else
                           [float(w_ip.min()), float(w_ip.max())]),
        n_truncated=int(np.sum(w_ip != w_raw)),
        effective_sample_size={"treated": wt.effective_sample_size(w_ip[t1]),
                               "control": wt.effective_sample_size(w_ip[~t1])},
        max_weight=float(w_ip.max()),
        mortality_28d=sv.crude_risk(cohort["death_28d"], treated, w_ip),
        variance="robust (sandwich), each stay its own cluster",
    )
    out = dict(fit=fit, match=res, matched=mf, msurv=msurv, use_w=use_w, cph_matched=cph_m,
               cox_matched=cox_matched, rd=rd, cph_mv=cph_mv, mv_frame=mv_frame,
               mv_penalizer=mv_pen, mv_note=mv_note, cox_mv=cox_mv, iptw=iptw, design=design,
               secondary=sec, notes=notes)
    return out


def _estimand_sentence(est: str, n_focal: int, n_matched: int, caliper) -> str:
    who = "treated" if est == "ATT" else "untreated (control)"
    name = ("average treatment effect in the treated (ATT)" if est == "ATT"
            else "average treatment effect in the untreated/controls (ATC)")
    s = (f"Each {who} stay was matched to similar stays of the other group, so the matched "
         f"estimates describe the {who} stays: the {name}, i.e. what the treatment did, or would "
         f"have done, in patients like those who ")
    s += "received it." if est == "ATT" else "did not receive it."
    if n_matched < n_focal:
        s += (f" Only {n_matched} of the {n_focal} {who} stays found a match within the "
              f"caliper, so strictly the population is the matched {who} stays.")
    return s


def _exp(x: float) -> float:
    """``e**x``, infinite beyond the float range (a pooled interval of a separated term, whose
    log-HR standard error is huge, reaches past it); written as null in estimates.json."""
    return math.inf if x > 709.0 else math.exp(x)  # NaN stays NaN


def _pool_effect(effects: list[dict], alpha: float) -> dict:
    r = rubin([e["log_hr"] for e in effects], [e["se"] for e in effects], alpha)
    return dict(hr=_exp(r["estimate"]), ci95=[_exp(r["ci"][0]), _exp(r["ci"][1])],
                p=r["p"], log_hr=r["estimate"], se=r["se"], df=r["df"], fmi=r["fmi"],
                pooled="Rubin's rules on the log HR over %d imputations" % r["m"],
                by_imputation=[dict(hr=e["hr"], ci95=e["ci95"], p=e["p"]) for e in effects])


def _pool_rd(rds: list[dict], alpha: float) -> dict:
    """Risk differences of the imputed data sets pooled by Rubin's rules."""
    r = rubin([x["rd"] for x in rds], [x["se"] for x in rds], alpha)
    return dict(rd=r["estimate"], ci95=r["ci"], se=r["se"], p=r["p"], df=r["df"],
                pooled="Rubin's rules over %d imputations" % r["m"])


def _secondary_estimates(cohort: pd.DataFrame, results: list[dict], mw, alpha: float) -> list[dict]:
    """``estimates.json["secondary_outcomes"]``: per secondary outcome, counts and risks by arm
    (cohort; matched sample of imputation 1), the matched risk difference and matched Cox
    hazard ratio (pooled over imputations when there are several)."""
    treated = cohort["treated"].to_numpy(int)
    out = []
    for j, first in enumerate(results[0]["secondary"]):
        spec, ms = first["spec"], first["msurv"]
        event, time = _secondary_columns(spec)
        y = cohort[event].to_numpy(int)
        t_days = cohort[time].to_numpy(float)
        m_t = ms["treated"].to_numpy(int)
        m_y = ms["event"].to_numpy(int)
        samples = {"cohort": (treated, y, t_days, None), "matched": (m_t, m_y, ms["time"].to_numpy(float), mw)}
        n, deaths, risk, km_risk = {}, {}, {}, {}
        for cell in A.SAMPLE_ARMS:
            sample, lab = cell.split("_")
            arm, ev_, tt, w = samples[sample]
            sel = arm == {name: code for code, name in sv.GROUPS}[lab]
            n[cell] = int(sel.sum())
            deaths[cell] = int(ev_[sel].sum())
            risk[cell] = sv.crude_risk(ev_, arm, w)[lab]
            if spec["kind"] == "death_within":
                km_risk[cell] = sv.km_at(tt[sel], ev_[sel], float(spec["horizon_days"]),
                                         None if w is None else w[sel])
        horizon = spec.get("horizon_days")
        entry = dict(name=spec["name"], kind=spec["kind"],
                     horizon_days=None if horizon is None else float(horizon),
                     n=n, deaths=deaths, risk=risk)
        if km_risk:
            entry["km_risk"] = km_risk
        if len(results) > 1:
            cox = _pool_effect([r["secondary"][j]["cox_matched"] for r in results], alpha)
            rd = _pool_rd([r["secondary"][j]["rd"] for r in results], alpha)
        else:
            cox, rd = dict(first["cox_matched"]), dict(first["rd"])
        entry["risk_difference"] = dict(sample="matched", **rd,
                                        variance="cluster-robust by matched set (pair_id)")
        cox["variance"] = "robust (sandwich), clustered on pair_id"
        cox["weighted"] = mw is not None
        entry["cox_matched"] = cox
        out.append(entry)
    return out


def run_analysis(cohort: pd.DataFrame, covariates: list[dict], analysis: dict | None,
                 out_dir: Path, study_name: str, extra: dict | None = None,
                 secondary: list[dict] | None = None) -> dict:
    """Run the study's analysis and write its result files into ``out_dir``.

    Parameters
    ----------
    cohort : DataFrame
        One row per stay: ``stay_id, treated (0/1), time_days, death_28d (0/1)`` and every
        covariate.
    covariates : list of {"name": column, "type": "continuous" | "binary" | "categorical"}
    analysis : dict
        The study's ``analysis:`` section (validated; missing defaults are filled here too).
    out_dir : Path
        Folder for ``propensity.parquet, matched.parquet, balance.csv, table1.csv, km.csv,
        km_at_risk.csv, cox_multivariable.csv, subgroups.csv, ph_test.csv, ps_summary.csv,
        estimates.json``.
    study_name : str
    extra : dict, optional
        Further top-level entries of ``estimates.json`` computed elsewhere (the target-trial
        analysis of a study with a design: ``{"target_trial": ...}``); None adds nothing.
    secondary : list of dict, optional
        The study's ``outcome.secondary`` (``{"name", "kind", "horizon_days"}``); each needs
        the cohort columns ``<name>`` (0/1) and ``<name>_time_days``. None or empty: no
        ``secondary_outcomes`` key in ``estimates.json``.

    Returns
    -------
    dict
        The content of ``estimates.json`` (see the project's CONTRACT and the module docs).
    """
    opts = with_defaults(analysis)
    cohort = _check_cohort(cohort, covariates)
    secondary = [dict(x) for x in (secondary or [])]
    _check_secondary(cohort, secondary)
    alpha = opts["alpha"]
    seed = int(opts["seed"])
    mi = opts["propensity"]["missing"]
    treated = cohort["treated"].to_numpy(int)
    if mi["method"] == "multiple_imputation":
        designs = pr.impute_multiple(cohort, covariates, int(mi["n_imputations"]), seed,
                                     int(mi["max_iter"]))
    else:
        designs = [pr.build_design(cohort, covariates)]
    results = [_one_dataset(cohort, d, opts, secondary) for d in designs]
    main = results[0]
    fit, res, mf, msurv = main["fit"], main["match"], main["matched"], main["msurv"]
    rows = mf["_row"].to_numpy()
    wm = mf["match_weight"].to_numpy()
    use_w = main["use_w"]
    mw = wm if use_w else None

    # Balance and Table 1 on the observed covariate values.
    btab = bal.balance_table(cohort, covariates, treated, rows, wm,
                             opts["balance"]["threshold"], ps=fit.ps)
    t1 = bal.table1(cohort, covariates, treated, rows, wm, btab)

    # Survival.
    time = cohort["time_days"].to_numpy(float)
    death = cohort["death_28d"].to_numpy(int)
    horizon = float(opts["horizon_days"])
    km = pd.concat([sv.km_table(time, death, treated, "cohort", alpha=alpha),
                    sv.km_table(msurv["time"], msurv["event"], msurv["treated"], "matched", mw,
                                alpha)], ignore_index=True)
    times = opts["survival"]["at_risk_times"]
    at_risk = pd.concat([sv.at_risk_table(time, treated, "cohort", times),
                         sv.at_risk_table(msurv["time"], msurv["treated"], "matched", times)],
                        ignore_index=True)
    crude_c = sv.crude_risk(death, treated)
    crude_m = sv.crude_risk(msurv["event"], msurv["treated"], mw)
    km_c = {lab: sv.km_at(time[treated == g], death[treated == g], horizon)
            for g, lab in sv.GROUPS}
    mt_arr = msurv["treated"].to_numpy()
    km_m = {lab: sv.km_at(msurv["time"][mt_arr == g], msurv["event"][mt_arr == g], horizon,
                          None if mw is None else mw[mt_arr == g]) for g, lab in sv.GROUPS}
    notes = list(main["notes"])
    for j, r in enumerate(results[1:], start=2):
        notes += [f"imputation {j}: {n}" for n in r["notes"]]
    nan = float("nan")
    lr_m = _guard("log-rank (matched)", notes,
                  lambda: sv.logrank_p(msurv["time"], msurv["event"], msurv["treated"], mw), nan)
    lr_c = _guard("log-rank (cohort)", notes, lambda: sv.logrank_p(time, death, treated), nan)

    # PH tests.
    tt = opts["cox"]["ph_time_transform"]
    empty_ph = pd.DataFrame(columns=["model", "term", "test_statistic", "df", "p"])
    ph_m = _guard("PH test (matched)", notes, lambda: coxm.ph_tests(
        msurv[["time", "event", "treated"] + (["weight"] if use_w else [])], "time", "event",
        "matched", weights="weight" if use_w else None, time_transform=tt), empty_ph)
    ph_mv = empty_ph
    if main["mv_frame"] is not None:
        ph_mv = _guard("PH test (multivariable)", notes, lambda: coxm.ph_tests(
            main["mv_frame"], "time", "event", "multivariable", time_transform=tt,
            penalizer=main["mv_penalizer"]), empty_ph)
    # an empty table (a test that could not run) adds no rows; concatenating it would only
    # let pandas re-decide the column types (its FutureWarning)
    frames = [f for f in (ph_m, ph_mv) if len(f)]
    ph = pd.concat(frames, ignore_index=True) if frames else empty_ph.copy()

    # Effects (pooled under multiple imputation).
    if len(results) > 1:
        cox_matched = _pool_effect([r["cox_matched"] for r in results], alpha)
        cox_mv = _pool_effect([r["cox_mv"] for r in results], alpha)
        iptw = {**results[0]["iptw"], **_pool_effect([r["iptw"] for r in results], alpha)}
        rd = _pool_rd([x["rd"] for x in results], alpha)
        tabs = [coxm.coef_table(x["cph_mv"]).set_index("term") for x in results
                if x["cph_mv"] is not None]
        terms = [t for t in tabs[0].index if all(t in tb.index for tb in tabs)]
        mv_rows = []
        for term in terms:
            effs = [dict(hr=tb.loc[term, "hr"], ci95=[tb.loc[term, "ci_low"],
                                                      tb.loc[term, "ci_high"]],
                         p=tb.loc[term, "p"], log_hr=tb.loc[term, "log_hr"],
                         se=tb.loc[term, "se"]) for tb in tabs]
            p = _pool_effect(effs, alpha)
            mv_rows.append(dict(term=term, hr=p["hr"], ci_low=p["ci95"][0],
                                ci_high=p["ci95"][1], p=p["p"], log_hr=p["log_hr"], se=p["se"]))
        mv_table = pd.DataFrame(mv_rows)
    else:
        cox_matched = dict(main["cox_matched"])
        cox_mv = dict(main["cox_mv"])
        iptw = dict(main["iptw"])
        rd = dict(main["rd"])
        mv_table = (coxm.coef_table(main["cph_mv"]) if main["cph_mv"] is not None else
                    pd.DataFrame(columns=["term", "hr", "ci_low", "ci_high", "p", "log_hr", "se"]))
    cox_matched["variance"] = "robust (sandwich), clustered on pair_id"
    cox_matched["weighted"] = bool(use_w)
    cox_mv["penalizer"] = main["mv_penalizer"]
    if main["mv_note"]:
        cox_mv["note"] = main["mv_note"]
    cox_mv["n_terms"] = int(len(mv_table))

    # E-value.
    matched_risk = sv.crude_risk(msurv["event"], np.zeros(len(msurv), int), mw)["control"]
    evalue = ev.evalue_hr(cox_matched["hr"], cox_matched["ci95"][0], cox_matched["ci95"][1],
                          matched_risk, opts["evalue"]["common_outcome_threshold"])

    # Subgroups.
    sub_in = msurv.assign(_row=rows)
    from .subgroups import COLUMNS as SUB_COLUMNS

    subs, skipped = _guard("subgroups", notes,
                           lambda: subgroup_table(sub_in, cohort, opts["subgroups"], alpha),
                           (pd.DataFrame(columns=SUB_COLUMNS), []))

    # Propensity outputs.
    prop = pd.DataFrame({"stay_id": cohort["stay_id"].to_numpy(), "treated": treated,
                         "ps": fit.ps})
    matched_out = mf[["stay_id", "treated", "ps", "pair_id", "match_weight", "focal"]].copy()
    ps_sum = pd.concat([pr.ps_summary(fit.ps, treated, "cohort"),
                        pr.ps_summary(mf["ps"], mf["treated"], "matched")], ignore_index=True)

    n_focal = int(len(res.focal_index))
    n_matched_focal = res.n_matched_focal
    dist = mt.to_scale(fit.ps, opts["matching"]["scale"])
    periods = exposure_by_period(cohort)
    for name in periods["departing"]:
        notes.append(f"exposure by period: the treated share in {periods['column']} {name} departs by more than "
                     f"{periods['max_difference']:.0%} from the other periods' (a change in documentation?)")
    est = dict(
        study=study_name,
        n_cohort=int(len(cohort)),
        n_treated=int(treated.sum()),
        n_control=int(len(cohort) - treated.sum()),
        estimand=res.estimand,
        estimand_description=_estimand_sentence(res.estimand, n_focal, n_matched_focal,
                                                res.caliper),
        focal_group=GROUP_WORD[res.focal_group],
        n_focal=n_focal,
        n_focal_matched=n_matched_focal,
        n_focal_unmatched=res.n_focal_unmatched,
        seed=seed,
        matching=dict(
            engine=res.engine, estimand=res.estimand, estimand_setting=opts["matching"]["estimand"],
            caliper_sd=opts["matching"]["caliper_sd"], scale=opts["matching"]["scale"],
            caliper_sd_sample=opts["matching"]["caliper_sd_sample"],
            sd_of_distance=float(np.std(dist, ddof=1)),
            caliper_width=res.caliper, ratio=int(opts["matching"]["ratio"]),
            m_order=res.m_order, replace=False, n_pairs=n_matched_focal,
            n_matched=int(len(mf)), n_matched_treated=int(mf["treated"].sum()),
            n_matched_control=int(len(mf) - mf["treated"].sum()),
            weighted=bool(use_w), seed=seed, notes=res.notes),
        c_statistic=fit.c_statistic,
        ps_model=dict(
            method="logistic regression (scikit-learn, lbfgs, standardised columns)",
            penalty=opts["propensity"]["penalty"],
            C=opts["propensity"]["C"] if opts["propensity"]["penalty"] == "l2" else None,
            n_columns=int(main["design"].X.shape[1]), columns=list(main["design"].X.columns),
            dropped_columns=list(main["design"].dropped), converged=fit.converged,
            n_iter=fit.n_iter, c_statistic=fit.c_statistic,
            categorical_reference=main["design"].references,
            coefficients=fit.coefficients),
        imputation=dict(
            method=mi["method"],
            n_imputations=len(results),
            n_missing=main["design"].n_missing,
            description=("cohort median plus missing-indicator columns; categorical: 'Missing' "
                         "level" if mi["method"] == "median_indicator" else
                         "chained equations (scikit-learn IterativeImputer, sample_posterior, "
                         "seeded), auxiliaries: treatment, 28-day death, Nelson-Aalen hazard"),
            pooled=((["cox_matched", "cox_multivariable", "iptw", "risk_difference"]
                     + ([f"{A.SECONDARY_OUTCOMES}.cox_matched", f"{A.SECONDARY_OUTCOMES}.risk_difference"]
                        if secondary else []))
                    if len(results) > 1 else []),
            files_describe="imputation 1" if len(results) > 1 else "the single data set"),
        balance=dict(
            max_abs_smd_before=bal.max_abs_smd(btab, "smd_before"),
            max_abs_smd_after=bal.max_abs_smd(btab, "smd_after"),
            max_abs_smd_after_incl_missing=bal.max_abs_smd(btab, "smd_after", True),
            threshold=opts["balance"]["threshold"],
            n_imbalanced_before=int(btab.loc[btab["kind"].isin(["continuous", "binary", "categorical"]), "imbalanced_before"].sum()),
            n_imbalanced_after=int(btab.loc[btab["kind"].isin(["continuous", "binary", "categorical"]), "imbalanced_after"].sum()),
            imbalanced_after=[f"{r.covariate}{'[' + r.level + ']' if r.level else ''}"
                              for r in btab.itertuples() if r.imbalanced_after
                              and r.kind in ("continuous", "binary", "categorical")]),
        mortality_28d=dict(
            cohort_treated=crude_c["treated"], cohort_control=crude_c["control"],
            matched_treated=crude_m["treated"], matched_control=crude_m["control"],
            km_cohort_treated=km_c["treated"], km_cohort_control=km_c["control"],
            km_matched_treated=km_m["treated"], km_matched_control=km_m["control"],
            horizon_days=horizon),
        risk_difference=dict(sample="matched", **rd,
                             variance="cluster-robust by matched set (pair_id)"),
        km=dict(logrank_p=lr_m, sample="matched", logrank_p_cohort=lr_c),
        cox_matched=cox_matched,
        cox_multivariable=cox_mv,
        iptw=iptw,
        evalue=evalue,
        ph_test=dict(
            global_p=(float(ph_m.loc[ph_m["term"] == "GLOBAL", "p"].iloc[0])
                      if (ph_m["term"] == "GLOBAL").any() else None),
            global_p_multivariable=(float(ph_mv.loc[ph_mv["term"] == "GLOBAL", "p"].iloc[0])
                                    if (ph_mv["term"] == "GLOBAL").any() else None),
            time_transform=tt,
            method="Grambsch-Therneau test on scaled Schoenfeld residuals (lifelines)"),
        exposure_by_period=periods,
        subgroups=subs.to_dict(orient="records"),
        subgroups_skipped=skipped,
        alpha=alpha,
        warnings=notes,
        analysis=opts,
    )
    if secondary:
        est[A.SECONDARY_OUTCOMES] = _secondary_estimates(cohort, results, mw, alpha)
    if extra:
        est.update(extra)
    est = A.json_clean(est)

    files = {
        A.PROPENSITY.name: lambda p: prop.to_parquet(p, index=False),
        A.MATCHED.name: lambda p: matched_out.to_parquet(p, index=False),
        A.BALANCE.name: lambda p: btab.to_csv(p, index=False),
        A.TABLE1.name: lambda p: t1.to_csv(p, index=False),
        A.KM.name: lambda p: km.to_csv(p, index=False),
        A.KM_AT_RISK.name: lambda p: at_risk.to_csv(p, index=False),
        A.COX_MULTIVARIABLE.name: lambda p: mv_table[["term", "hr", "ci_low", "ci_high", "p",
                                                      "log_hr", "se"]].to_csv(p, index=False),
        A.SUBGROUPS.name: lambda p: subs.to_csv(p, index=False),
        A.PH_TEST.name: lambda p: ph.to_csv(p, index=False),
        A.PS_SUMMARY.name: lambda p: ps_sum.to_csv(p, index=False),
        A.ESTIMATES.name: lambda p: p.write_text(A.json_text(est)),
    }
    assert set(files) == set(OUTPUT_FILES)
    A.write_files(Path(out_dir), files)
    return est
