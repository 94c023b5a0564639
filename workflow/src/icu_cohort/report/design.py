"""The report's target-trial section: the emulated trial as a table (the components of the
TARGET guideline's target-trial specification: eligibility, treatment strategies, assignment,
time zero and follow-up, outcome, causal contrast, analysis), the counts at time zero, and a
figure of the naive, landmark and clone-censor-weight estimates side by side (with the true
value on synthetic data). Reads ``estimates.json["target_trial"]``
(:func:`icu_cohort.trial.run_target_trial`); counts pass :func:`.format.suppress_count`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .disclosure import coarse_share
from .format import DASH, esc, fmt_num, is_small
from .inputs import finite
from .svg import INK, MUTED, TREATED, SvgBuilder
from .tables import Markup, html_table

#: The analyses in the order shown, with their labels.
ANALYSES = (("naive", "Naive: ever vs never treated, from ICU admission"),
            ("landmark", "Landmark at the end of the grace period"),
            ("clone_censor_weight", "Clone-censor-weight (target trial)"))


def _ci(e: Mapping[str, Any] | None, digits: int = 3, pct: bool = False) -> str:
    if not isinstance(e, Mapping) or finite(e.get("estimate")) is None:
        return DASH
    k = 100.0 if pct else 1.0
    lo, hi = (e.get("ci95") or [None, None])[:2]
    est = fmt_num(k * e["estimate"], digits)
    if finite(lo) is None or finite(hi) is None:
        return est
    return f"{est} ({fmt_num(k * lo, digits)} to {fmt_num(k * hi, digits)})"


def _g(x: Any) -> str:
    """A number of hours or days as written in a study file (24, 0.5)."""
    v = finite(x)
    return DASH if v is None else f"{v:g}"


def _strategies_text(d: Mapping[str, Any], exposure: str) -> str:
    g = _g(d.get("grace_hours"))
    return (f"Start {exposure} within {g} h of time zero, versus no start within {g} h of time zero; after the "
            "grace period treatment is left to the clinicians in both arms.")


def target_table_html(trial: Mapping[str, Any], study: Mapping[str, Any], exposure: str) -> str:
    """The target trial and its emulation, one row per protocol component."""
    d = trial.get("design") or {}
    tz = d.get("time_zero") or {}
    t0 = _g(tz.get("offset_hours"))
    grace = _g(d.get("grace_hours"))
    lm = _g(d.get("landmark_hours"))
    horizon = _g(d.get("horizon_days"))
    prior = "allowed" if d.get("allow_prior_treatment") else "not yet treated"
    post = d.get("post_baseline") or []
    history = d.get("history_covariates") or []
    base_note = ("every covariate measured by time zero" if not post else
                 "covariates measured by time zero, EXCEPT " + ", ".join(
                     f"{p['covariate']} (to {_g(p['window_end_hours'])} h)" for p in post)
                 + " (allowed by allow_post_baseline: post-baseline values)")
    if history:
        base_note += ("; diagnoses coded for the hospital admission (" + ", ".join(history)
                      + ") are taken as baseline history although they are coded at discharge")
    bs = d.get("bootstrap") or {}
    tv = ", ".join(d.get("time_varying") or []) or "none"
    rows = [
        ("Eligibility", "The study's cohort criteria; at time zero alive, in the ICU and " + prior + ".",
         f"Cohort of the study file; at {t0} h after ICU admission: alive, ICU outtime later, no {exposure} dose "
         f"before ({'prior doses allowed' if d.get('allow_prior_treatment') else 'first dose at or after time zero'})."
         f" Baseline: {base_note}."),
        ("Treatment strategies", _strategies_text(d, exposure),
         f"Observed first dose time relative to time zero; a start exactly at {grace} h is consistent with both arms."),
        ("Assignment", "Random assignment at time zero.",
         "Each eligible stay is cloned into both arms at time zero (no assignment needed); a clone is censored when "
         f"its data deviate from its arm (first dose before {grace} h in the no-start arm; no dose by {grace} h in "
         "the start arm); inverse probability of censoring weights remove the selection this creates."),
        ("Time zero and follow-up", f"Follow-up from time zero ({t0} h after ICU admission) to death or {horizon} days.",
         f"The same: time zero at ICU admission + {t0} h, follow-up to death or {horizon} days after it."),
        ("Outcome", f"All-cause death within {horizon} days of time zero.",
         "Death from admissions.deathtime, else patients.dod at the study's hour of day."),
        ("Causal contrast", "Per-protocol effect: risk difference and risk ratio at the horizon; hazard ratio.",
         "Per-protocol effect in the clones that follow their arm, reweighted to the eligible population."),
        ("Analysis", "Comparison of the arms' risks.",
         f"Weighted Kaplan-Meier risks at {horizon} days per arm, RD, RR and the weighted Cox HR; censoring weights "
         f"from pooled logistic models over {_g(d.get('interval_hours'))}-h intervals of the grace period on the "
         f"baseline covariates and the time-varying {tv}; 95% percentile intervals from "
         f"{bs.get('replicates', DASH)} bootstrap replicates over stays (seed {bs.get('seed', DASH)}). Landmark "
         f"analysis at {lm} h after time zero (stays alive and in the ICU then; exposure = first dose before it; "
         "IPTW; follow-up from the landmark); naive whole-stay comparison for contrast."),
    ]
    return html_table(["Component", "Target trial", "Emulation"], [[Markup(f"<strong>{esc(a)}</strong>"), b, c]
                                                                   for a, b, c in rows], cls="data")


def counts_table_html(trial: Mapping[str, Any], threshold: int | None, count) -> str:
    """Stays from the cohort to the trial. When one exclusion reason is a small count, only
    the total excluded is shown (so it cannot be derived from the others)."""
    c = trial.get("counts") or {}
    dead = c.get("n_excluded_dead_or_out_of_icu_by_time_zero")
    treated = c.get("n_excluded_treated_before_time_zero")
    total = None
    if c.get("n_cohort") is not None and c.get("n_eligible") is not None:
        total = int(c["n_cohort"]) - int(c["n_eligible"])
    rows = [["Stays in the cohort", count(c.get("n_cohort"))]]
    if is_small(dead, threshold) or is_small(treated, threshold):
        rows.append(["Not eligible at time zero (dead, out of the ICU or already treated)", count(total)])
    else:
        rows += [["Dead or out of the ICU by time zero", count(dead)],
                 ["Already treated before time zero", count(treated)]]
    rows += [["Eligible at time zero (each cloned into both arms)", count(c.get("n_eligible"))],
             ["Started within the grace period", count(c.get("n_started_within_grace"))]]
    ccw = (trial.get("clone_censor_weight") or {}).get("clones") or {}
    rows += [["Start-arm clones censored at the end of the grace period", count(ccw.get("start_censored"))],
             ["No-start-arm clones censored at their first dose", count(ccw.get("no_start_censored"))]]
    lm = trial.get("landmark") or {}
    rows += [["Landmark population (alive and in the ICU at the landmark)", count(lm.get("n_stays"))],
             ["  of whom treated before the landmark", count(lm.get("n_exposed"))]]
    return html_table(["", "Stays"], rows, numeric=[False, True])


def true_shares(trial: Mapping[str, Any], threshold: int | None = 11) -> tuple[dict[str, float | None], float]:
    """The trial's true risks and risk difference as the report shows them: rounded by
    :func:`.disclosure.coarse_share` to a step of at least ``threshold`` of the eligible stays
    (a risk times the eligible n would otherwise be a count). Returns the rounded values
    (``risk_strategy``, ``risk_comparator``, ``risk_difference``) and the step."""
    truth = trial.get("truth") if isinstance(trial.get("truth"), Mapping) else {}
    n = (trial.get("counts") or {}).get("n_eligible")
    out: dict[str, float | None] = {}
    step = 0.0
    for k in ("risk_strategy", "risk_comparator", "risk_difference"):
        out[k], step = coarse_share(finite(truth.get(k)), n, threshold)
    return out, step


def estimates_table_html(trial: Mapping[str, Any], threshold: int | None = 11) -> str:
    truth = trial.get("truth") or None
    rows = []
    for key, label in ANALYSES:
        e = trial.get(key) or {}
        rows.append([label, _ci(e.get("risk_1"), 1, True), _ci(e.get("risk_0"), 1, True), _ci(e.get("rd"), 1, True),
                     _ci(e.get("rr"), 2), _ci(e.get("hr"), 2)])
    if isinstance(truth, Mapping):
        shares, _step = true_shares(trial, threshold)

        def pct(v: float | None) -> str:
            return DASH if v is None else fmt_num(100 * v, 1)

        rows.append([Markup("<em>True value (synthetic data)</em>‡"), pct(shares["risk_strategy"]),
                     pct(shares["risk_comparator"]), pct(shares["risk_difference"]),
                     fmt_num(truth["risk_strategy"] / truth["risk_comparator"], 2)
                     if truth.get("risk_comparator") else DASH, fmt_num(truth.get("hazard_ratio"), 2)])
    return html_table(["Analysis", "Risk, arm 1 (%)", "Risk, arm 0 (%)", "RD (percentage points)", "RR", "HR"], rows,
                      numeric=[False, True, True, True, True, True])


def comparison_svg(trial: Mapping[str, Any], key: str = "design-estimates", threshold: int | None = 11) -> str:
    """Risk differences (linear scale) and hazard ratios (log scale) of the naive, landmark and
    clone-censor-weight analyses with 95% CIs; the true value as a dashed line when known (the
    risk difference rounded as in the table, :func:`true_shares`)."""
    truth = trial.get("truth") if isinstance(trial.get("truth"), Mapping) else None
    W, rh, top = 960.0, 30.0, 46.0
    label_w, pw, gap = 350.0, 260.0, 50.0
    rd_x, hr_x = label_w, label_w + pw + gap
    n = len(ANALYSES)
    H = top + rh * n + 56
    b = SvgBuilder(W, H, key, "Risk difference and hazard ratio by analysis", "fig-svg forest")

    def values(metric):
        out = []
        for k, _ in ANALYSES:
            e = (trial.get(k) or {}).get(metric) or {}
            lo, hi = (e.get("ci95") or [None, None])[:2]
            out.append((finite(e.get("estimate")), finite(lo), finite(hi)))
        return out

    rd, hr = values("rd"), values("hr")
    t_rd = true_shares(trial, threshold)[0]["risk_difference"] if truth else None
    t_hr = finite(truth.get("hazard_ratio")) if truth else None
    rd_all = [v for row in rd for v in row if v is not None] + ([t_rd] if t_rd is not None else []) + [0.0]
    hr_all = [v for row in hr for v in row if v is not None and v > 0] + ([t_hr] if t_hr else []) + [1.0]
    rlo, rhi = min(rd_all), max(rd_all)
    pad = 0.08 * (rhi - rlo or 0.1)
    rlo, rhi = rlo - pad, rhi + pad
    hlo, hhi = math.log(min(hr_all) / 1.1), math.log(max(hr_all) * 1.1)

    def XR(v):
        return rd_x + (v - rlo) / (rhi - rlo) * pw

    def XH(v):
        return hr_x + (math.log(v) - hlo) / (hhi - hlo) * pw

    b.text(rd_x + pw / 2, 20, "Risk difference (95% CI)", anchor="middle", font_size="12", font_weight="700", fill=INK)
    b.text(hr_x + pw / 2, 20, "Hazard ratio (95% CI, log scale)", anchor="middle", font_size="12", font_weight="700",
           fill=INK)
    bottom = top + rh * n
    b.line(XR(0.0), top - 8, XR(0.0), bottom, stroke="#4B5563", stroke_width="1")
    b.line(XH(1.0), top - 8, XH(1.0), bottom, stroke="#4B5563", stroke_width="1")
    if t_rd is not None:
        b.line(XR(t_rd), top - 8, XR(t_rd), bottom, stroke=MUTED, stroke_width="1.4", stroke_dasharray="5 4")
    if t_hr:
        b.line(XH(t_hr), top - 8, XH(t_hr), bottom, stroke=MUTED, stroke_width="1.4", stroke_dasharray="5 4")
    for i, (k, label) in enumerate(ANALYSES):
        yc = top + rh * i + rh / 2
        b.text(10, yc + 4.5, label, font_size="12.5", fill=INK)
        for (est, lo, hi), X, ok in ((rd[i], XR, True), (hr[i], XH, hr[i][0] is not None and hr[i][0] > 0)):
            if est is None or not ok:
                continue
            if lo is not None and hi is not None and (X is XR or (lo > 0 and hi > 0)):
                b.line(X(lo), yc, X(hi), yc, stroke=TREATED, stroke_width="1.6")
            b.rect(X(est) - 4.5, yc - 4.5, 9, 9, fill=TREATED)
    ay = bottom + 8
    for x0, X, ticks in ((rd_x, XR, _lin_ticks(rlo, rhi)), (hr_x, XH, _log_ticks(math.exp(hlo), math.exp(hhi)))):
        b.line(x0, ay, x0 + pw, ay, stroke="#4B5563", stroke_width="1")
        for t in ticks:
            b.line(X(t), ay, X(t), ay + 5, stroke="#4B5563", stroke_width="1")
            b.text(X(t), ay + 18, f"{t:g}", anchor="middle", font_size="11.5", fill=INK)
    if truth:
        b.text(10, H - 8, "Dashed line: the true value of the target trial's contrast (synthetic data).",
               font_size="11.5", fill=MUTED)
    return b.render()


def _lin_ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 0.1
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    start = math.ceil(lo / step) * step
    out, t = [], start
    while t <= hi + 1e-12:
        out.append(round(t, 10))
        t += step
    return out


def _log_ticks(lo: float, hi: float) -> list[float]:
    cands = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]
    out = [c for c in cands if lo <= c <= hi]
    return out or [1.0]


def section_design(ctx) -> str:
    """The report section (``ctx``: the renderer's context, :class:`.render._Ctx`)."""
    trial = ctx.get("target_trial")
    if isinstance(trial, Mapping) and "truth" in trial and not getattr(ctx, "synthetic", False):
        # a true value only for the generator's own data (report.inputs.synthetic_source)
        ctx.consumed.add("target_trial.truth")
        trial = {k: v for k, v in trial.items() if k != "truth"}
    if not isinstance(trial, Mapping):
        return ('<p class="muted">This study defines no target trial (no <code>design:</code> section in the study '
                "file): its analysis is the whole-stay comparison above. See the study "
                "<code>sae_mgso4_tte</code> for the target-trial emulation of the same question.</p>")
    for k in list(trial):
        ctx.consumed.add(f"target_trial.{k}")
    parts = ["<p>The study emulates a target trial (Hern\u00e1n &amp; Robins 2016; TARGET guideline 2025). The table "
             "states the trial and how these data emulate it.</p>",
             target_table_html(trial, ctx.study, ctx.exposure)]
    post = (trial.get("design") or {}).get("post_baseline") or []
    if post:
        parts.append('<p class="warn"><strong>Post-baseline covariates.</strong> '
                     + ", ".join(esc(p["covariate"]) for p in post)
                     + " are measured after time zero (allow_post_baseline): they can hold values changed by the "
                       "treatment.</p>")
    for note in trial.get("warnings") or []:
        parts.append(f'<p class="warn">{esc(note)}</p>')
    parts += ["<h3>Stays at time zero</h3>", counts_table_html(trial, ctx.t, ctx.count),
              "<h3>Estimates</h3>", estimates_table_html(trial, ctx.t)]
    truth = trial.get("truth")
    if isinstance(truth, Mapping):
        _shares, step = true_shares(trial, ctx.t)
        parts.append(f'<p class="muted">True value: {esc(truth.get("source", ""))}, computed for the eligible stays '
                     "from the generator's potential outcomes (common random numbers). ‡ Its risks and risk "
                     f"difference are rounded to {fmt_num(100 * step, 1)} percentage points, a step of at least "
                     f"{ctx.t or 1} of the eligible stays, so that with their number they give no exact count.</p>")
    parts.append('<figure>' + comparison_svg(trial, threshold=ctx.t) + "<figcaption>Naive, landmark and clone-censor-weight estimates "
                 "with bootstrap 95% intervals. The naive comparison counts a patient as treated if treated at any "
                 "time, with follow-up from ICU admission (immortal time); the landmark compares patients by their "
                 "status at the landmark; the clone-censor-weight analysis estimates the target trial's per-protocol "
                 "effect.</figcaption></figure>")
    failed = [f"{label}: {int((trial.get(k) or {}).get('n_failed') or 0)}" for k, label in ANALYSES
              if (trial.get(k) or {}).get("n_failed")]
    if failed:
        parts.append('<p class="muted">Bootstrap replicates without an estimate (left out): ' + esc("; ".join(failed))
                     + ".</p>")
    return "".join(parts)
