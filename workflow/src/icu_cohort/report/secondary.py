"""The report's secondary-outcomes section, and the methods sentence that names them.

Reads ``estimates.json["secondary_outcomes"]`` (:data:`icu_cohort.artifacts.SECONDARY_OUTCOME_KEYS`,
written by :mod:`icu_cohort.analysis.run`): per secondary outcome of the study file
(``outcome.secondary``), a row for the whole cohort and one for the matched sample with the
group sizes and the events by arm, and on the matched row the risk difference and the matched
Cox hazard ratio -- the same samples and models as the primary outcome's.

Counts follow the report's one small-count rule (:mod:`.disclosure`) through
:func:`.exports.secondary_cells` (the manuscript export's table shows the same cells): within
an outcome the sizes of a sample, each group's events with its non-events, cohort = matched +
not matched; deaths within two horizons (the primary's and a secondary one's) whose difference
is small; and the group sizes as the rest of the report shows them.
"""

from __future__ import annotations

from typing import Any, Mapping

from icu_cohort.artifacts import SECONDARY_OUTCOMES

from .disclosure import cell_text
from .exports import secondary_cells, outcome_label
from .format import DASH, NOT_ESTIMABLE, esc, fmt_ci, fmt_num, fmt_p, is_estimable
from .inputs import finite
from .tables import Markup, html_table

SAMPLES = (("cohort", "Whole cohort"), ("matched", "Matched sample"))


def _entries(est: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    v = est.get(SECONDARY_OUTCOMES)
    return [e for e in v if isinstance(e, Mapping)] if isinstance(v, list) else []


def _outcome_words(e: Mapping[str, Any]) -> str:
    """The outcome as the methods text names it."""
    if e.get("kind") == "in_hospital_death":
        return "death before hospital discharge (censored at discharge)"
    h = finite(e.get("horizon_days"))
    return f"death from any cause within {h:g} days of ICU admission" if h is not None else esc(e.get("name"))


def methods_sentence(est: Mapping[str, Any]) -> str:
    """The methods paragraph's sentence on the secondary outcomes ("" without any)."""
    entries = _entries(est)
    if not entries:
        return ""
    words = [f"{_outcome_words(e)} (<code>{esc(e.get('name'))}</code>)" for e in entries]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return (f"Secondary outcome{'s were' if len(words) > 1 else ' was'} {listed}, analysed in the same samples as the "
            "primary outcome: events by arm in the whole cohort and in the matched sample, the matched risk "
            "difference and the hazard ratio of a Cox model in the matched sample.")


def _pct(frac: Any) -> str:
    f = finite(frac)
    return DASH if f is None else fmt_num(100.0 * f, 1)


def section(ctx) -> str:
    """The section (``ctx``: the renderer's context, :class:`.render._Ctx`)."""
    entries = _entries(ctx.est)
    if not entries:
        return ('<p class="muted">This study declares no secondary outcomes (<code>outcome.secondary</code> in the '
                "study file).</p>")
    ctx.consumed.add(SECONDARY_OUTCOMES)
    t = ctx.t
    # the report's group-size decision enters the shared rule (as in the exports), which
    # then hides the deaths and the risk difference of a hidden group too
    decisions = secondary_cells(ctx.est, t, ctx.hidden_sizes())
    rows, not_estimable, rd_hidden = [], False, False
    for sc in decisions:
        e = sc.entry
        label = Markup(f"{esc(outcome_label(e))}<br><span class=\"sub\"><code>{esc(e.get('name'))}</code></span>")
        for sample, sample_label in SAMPLES:
            row: list[Any] = [label, sample_label]
            for side in ("treated", "control"):
                c = (sample, side)
                hidden = sc.hide_n[c] or sc.hide_deaths[c]
                row.append(ctx.group_count(sample, side))
                d = sc.deaths[c]
                if d is None:
                    row.append(DASH)
                elif hidden and t is not None:
                    row.append(Markup(f'<span class="muted">{esc(cell_text(d, True, t))}</span>'))
                else:
                    row.append(f"{d:,} ({_pct(sc.risk[c])}%)")
            if sample == "cohort":
                row += [DASH, DASH, DASH]
                rows.append(row)
                continue
            rd = e.get("risk_difference") if isinstance(e.get("risk_difference"), Mapping) else {}
            ci = rd.get("ci95") if isinstance(rd.get("ci95"), list) and len(rd["ci95"]) == 2 else [None, None]
            if finite(rd.get("rd")) is None:
                row.append(DASH)
            elif sc.hide_rd and t is not None:
                rd_hidden = True
                row.append(Markup('<span class="muted">hidden</span>'))
            else:
                row.append(f"{_pct(rd['rd'])} ({_pct(ci[0])} to {_pct(ci[1])})")
            cox = e.get("cox_matched") if isinstance(e.get("cox_matched"), Mapping) else {}
            cci = cox.get("ci95") if isinstance(cox.get("ci95"), list) and len(cox["ci95"]) == 2 else [None, None]
            no_events = any(sc.deaths[("matched", s)] == 0 for s in ("treated", "control"))
            if not is_estimable(cox.get("hr"), cci[0], cci[1]) or no_events:
                not_estimable = True
                row += [Markup(f"{NOT_ESTIMABLE}\u2020"), DASH]
            else:
                row += [fmt_ci(cox["hr"], cci[0], cci[1]), fmt_p(cox.get("p"))]
            rows.append(row)
    header = ["Outcome", "Sample", "Treated, n", "Treated: events", "Control, n", "Control: events",
              "Risk difference, pp (95% CI)", "HR (95% CI)", "p"]
    numeric = [False, False, True, True, True, True, True, True, True]
    parts = [f"<p>{methods_sentence(ctx.est)} Below 1 (hazard ratio) or 0 (risk difference): fewer events with "
             "treatment.</p>",
             html_table(header, rows, cls="data compact", numeric=numeric)]
    notes = ["Events: stays with the outcome, n (% of the group's stays; weighted by the matching weights in the "
             "matched sample). Risk difference: treated minus control in percentage points, matched sample, "
             "cluster-robust variance by matched set. HR: Cox model in the matched sample, robust variance clustered "
             "on the matched set. Death within H days counts deaths from ICU admission to day H (survivors censored at "
             "day H); in-hospital death counts deaths before hospital discharge (censored at discharge, so its hazard "
             "ratio is that of the cause-specific hazard)."]
    if not_estimable:
        notes.append(f"\u2020 {NOT_ESTIMABLE.capitalize()}: an arm of the matched sample has no events, so the Cox "
                     "model gives no hazard ratio and no p-value.")
    if rd_hidden:
        notes.append("A risk difference is hidden where a matched event count is: with one arm's risk shown it would "
                     "give the other's.")
    if t is not None:
        notes.append(f"Counts from 1 to {t - 1} are shown as &lt;{t}; \u201chidden\u201d: not shown so that such a "
                     "count cannot be derived from the others (the group, the sample, the stays not matched, or the "
                     "deaths by another horizon).")
    parts += [f'<p class="muted">{n}</p>' for n in notes]
    return "".join(parts)
