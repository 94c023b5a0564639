"""Assembling the study report: one self-contained, deterministic HTML file.

:func:`render_report` reads the results folder (aggregates only, see :mod:`.inputs`) and
returns the page; :func:`write_report` writes it atomically. The page requests nothing
from any network address: CSS is inline, figures are inline SVG, fonts are the system's.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from .figures import (
    attrition_decisions,
    attrition_svg,
    group_decisions,
    at_risk_floors,
    size_decision,
    effects_plot_svg,
    forest_plot_svg,
    km_plot_svg,
    love_plot_svg,
    nested_hidden_times,
    ps_display_bins,
    ps_histogram_svg,
)
from .format import (
    DASH,
    NOT_ESTIMABLE,
    as_int,
    esc,
    fmt_ci,
    fmt_frac_pct,
    fmt_num,
    fmt_p,
    humanize,
    is_estimable,
    is_missing,
    is_small,
    label_for,
    shown_count,
    suppress_count,
)
from icu_cohort.artifacts import atomic_path
from icu_cohort.checks import shareable_warning

from .design import section_design
from .secondary import methods_sentence as secondary_methods
from .disclosure import coarse_share, hide_row
from .inputs import CSV_FILES, StudyResults, finite, horizon_days, load_results, synthetic_source, synthetic_truth
from .style import CSS
from .tables import (
    Markup,
    balance_table_html,
    cox_terms_table_html,
    flatten,
    html_table,
    key_value_table_html,
    missingness_table_html,
    ph_table_html,
    ps_summary_table_html,
    table1_hidden_note,
    table1_html,
    value_text,
)

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("methods", "Methods"),
    ("cohort", "Study flow"),
    ("table1", "Table 1"),
    ("matching", "Propensity score and matching"),
    ("balance", "Covariate balance"),
    ("survival", "Survival"),
    ("effects", "Effect estimates"),
    ("secondary", "Secondary outcomes"),   # report/secondary.py
    ("design", "Target trial emulation"),
    ("subgroups", "Subgroups"),
    ("sensitivity", "Sensitivity analyses"),
    ("definition", "Study definition"),
    ("supplement", "Supplementary tables"),
    ("other", "Other estimates"),
    ("provenance", "Provenance and configuration"),
)

#: Sections after the results, shown as collapsible appendix sections (``<details>``;
#: printed in full). A section added to SECTIONS and not listed here is part of the main text.
APPENDIX = frozenset({"definition", "supplement", "other", "provenance"})

# estimates.json leaves rendered by a dedicated part of the report.
KNOWN_ESTIMATES = {
    "study", "n_cohort", "n_treated", "n_control", "estimand", "population", "c_statistic", "seed",
    "matching.caliper_sd", "matching.scale", "matching.ratio", "matching.n_pairs",
    "balance.max_abs_smd_before", "balance.max_abs_smd_after",
    "mortality_28d.cohort_treated", "mortality_28d.cohort_control",
    "mortality_28d.matched_treated", "mortality_28d.matched_control",
    "km.logrank_p",
    "cox_matched.hr", "cox_matched.ci95", "cox_matched.p",
    "cox_multivariable.hr", "cox_multivariable.ci95", "cox_multivariable.p",
    "iptw.hr", "iptw.ci95", "iptw.p",
    "evalue.point", "evalue.ci_limit",
}

GROUP_LABELS = ("Treated", "Control")


class _Ctx:
    """What every section needs: inputs, study, provenance, threshold, labels."""

    def __init__(self, res: StudyResults, study: Mapping[str, Any], prov: Mapping[str, Any], threshold: int | None):
        self.res = res
        self.study = study
        self.prov = prov
        self.t = threshold
        self.est = res.estimates
        self.labels = covariate_labels(study)
        self.exposure = exposure_label(study)
        self.consumed: set[str] = set()
        self._group_flags: tuple[list[bool], list[tuple[bool, bool]]] | None = None
        self._sets_hidden = False
        self.not_estimable: set[str] = set()
        self.truth: dict[str, Any] | None = None  # planted true effects on synthetic data
        self.synthetic = False  # the data folder is the generator's (inputs.synthetic_source)

    def get(self, path: str, default: Any = None) -> Any:
        """``estimates["a"]["b"]`` for ``"a.b"``; marks the leaf as rendered."""
        cur: Any = self.est
        for part in path.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                return default
            cur = cur[part]
        self.consumed.add(path)
        return cur

    def count(self, n: Any) -> str:
        return suppress_count(n, self.t)

    def group_flags(self) -> tuple[list[bool], list[tuple[bool, bool]]]:
        """Hidden flags of the group sizes, one decision for the whole report (flow diagram,
        Table 1 headers, numbers at risk at time 0, matched sets, effects, methods, summary):
        ``([treated, control], [(matched, unmatched) per group])``, from
        :func:`.disclosure.hide_group_sizes` with the matching ratio (the tie of the matched
        sizes), the number of sets and what the numbers at risk shown after time 0 bound."""
        if self._group_flags is None:
            groups = [("treated", self.n_group("cohort", "treated"), self.n_group("matched", "treated")),
                      ("control", self.n_group("cohort", "control"), self.n_group("matched", "control"))]
            total = self.est.get("n_cohort")
            att = self.res.table("attrition")
            if att is not None and len(att):
                total = att["n_remaining"].iloc[-1]
                if attrition_decisions(att, self.t).remaining[-1]:
                    total = None
            m = self.est.get("matching") if isinstance(self.est.get("matching"), Mapping) else {}
            risk = self.res.table("km_at_risk")
            floors = at_risk_floors(risk, "cohort", self.t) + at_risk_floors(risk, "matched", self.t)
            dec = size_decision(total, groups, self.t, m.get("ratio"), m.get("n_pairs"), floors)
            if dec is None:  # pragma: no cover - the report always has two groups
                self._group_flags = group_decisions(total, groups, self.t)
            else:
                self._sets_hidden = bool(dec.sets)
                self._group_flags = (list(dec.group), [(dec.matched[j], dec.unmatched[j]) for j in range(2)])
        return self._group_flags

    def sets_hidden(self, n_sets: Any) -> bool:
        """The number of matched sets is hidden (small, or the same number as a hidden matched
        size: :func:`.disclosure.hide_group_sizes`)."""
        self.group_flags()
        return self._sets_hidden or is_small(n_sets, self.t)

    def group_count(self, sample: str, group: str) -> str:
        """A group's size as the report shows it (see :meth:`group_flags`)."""
        hide_n, hide_m = self.group_flags()
        j = 0 if group == "treated" else 1
        hidden = hide_n[j] if sample == "cohort" else hide_m[j][0]
        return shown_count(self.n_group(sample, group), hidden or is_small(self.n_group(sample, group), self.t), self.t)

    def group_hidden(self, sample: str, group: str) -> bool:
        hide_n, hide_m = self.group_flags()
        j = 0 if group == "treated" else 1
        return (hide_n[j] if sample == "cohort" else hide_m[j][0]) or is_small(self.n_group(sample, group), self.t)

    def hidden_sizes(self) -> dict[tuple[str, str], bool]:
        """:meth:`group_hidden` of every group: ``{(sample, group): hidden}``, sample
        ``"cohort"`` / ``"matched"``."""
        return {(s, g): self.group_hidden(s, g) for s in ("cohort", "matched") for g in ("treated", "control")}

    def n_group(self, sample: str, group: str) -> int | None:
        """Group sizes: cohort from estimates.json (else propensity.parquet), matched from matched.parquet."""
        if sample == "cohort":
            v = as_int(self.est.get("n_treated" if group == "treated" else "n_control"))
            if v is not None:
                return v
            return self.res.group_sizes.get(("before", group))
        return self.res.group_sizes.get(("after", group))


def shown_group_sizes(res: StudyResults, study: Mapping[str, Any], threshold: int | None) -> dict[tuple[str, str], bool]:
    """The report's one decision of the group sizes (:meth:`_Ctx.group_flags`) for the exports:
    ``{(sample, group): hidden}``, sample ``"before"`` (the cohort) / ``"after"`` (matched)."""
    names = {"cohort": "before", "matched": "after"}
    return {(names[s], g): h for (s, g), h in _Ctx(res, study, {}, threshold).hidden_sizes().items()}


# ----------------------------------------------------------------------------- study helpers


def covariate_labels(study: Mapping[str, Any]) -> dict[str, str]:
    """Display labels of covariates from the study's ``covariates`` section, where it gives any."""
    out: dict[str, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, Mapping):
            name = node.get("name") or node.get("id") or node.get("column")
            label = node.get("label") or node.get("title")
            if isinstance(name, str) and isinstance(label, str):
                out[name] = label
            for k, v in node.items():
                if isinstance(v, Mapping) and isinstance(v.get("label"), str):
                    out.setdefault(str(k), v["label"])
                if isinstance(v, (Mapping, list)):
                    visit(v)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(study.get("covariates"))
    return out


def exposure_label(study: Mapping[str, Any]) -> str:
    """Words for the treatment: the exposure's label, else its description (without a
    trailing parenthesis such as the source table), else its name, else "treatment"."""
    exp = study.get("exposure")
    if isinstance(exp, Mapping):
        for key in ("label", "title", "description", "name"):
            v = exp.get(key)
            if isinstance(v, str) and v.strip():
                text = re.sub(r"\s*\([^)]*\)\s*$", "", " ".join(v.split()))
                if 0 < len(text) <= 60:
                    return text
    return "treatment"


def _plain(obj: Any) -> Any:
    """``obj`` as plain JSON data (a Study or other mapping becomes a dict)."""
    return json.loads(json.dumps(obj, default=lambda o: dict(o) if isinstance(o, Mapping) else str(o)))


def _definition_html(node: Any, depth: int = 0) -> str:
    """A config section in words: nested definition lists, long lists shortened.

    The complete configuration is printed in the last section, so here a list of more than
    12 values shows its first 8 and how many there are, and structure deeper than three
    levels is summarised.
    """
    if isinstance(node, Mapping):
        if not node:
            return '<span class="muted">(empty)</span>'
        if depth >= 1 and all(not isinstance(v, Mapping) for v in node.values()) and not any(
                isinstance(v, list) and any(isinstance(x, Mapping) for x in v) for v in node.values()):
            return esc(_inline_text(node))
        if depth >= 2:
            return esc(_inline_text(node))
        items = []
        for k, v in node.items():
            items.append(f"<dt>{esc(label_for(k))}</dt><dd>{_definition_html(v, depth + 1)}</dd>")
        return f'<dl class="defs">{"".join(items)}</dl>'
    if isinstance(node, list):
        if not node:
            return '<span class="muted">(none)</span>'
        if all(not isinstance(x, (Mapping, list)) for x in node):
            if len(node) > 12:
                return esc(", ".join(str(x) for x in node[:6])) + f' <span class="muted">\u2026 ({len(node)} in all)</span>'
            return esc(", ".join(_scalar_text(x) for x in node))
        if depth >= 1 and all(isinstance(x, Mapping) for x in node) and not any(
                isinstance(v, Mapping) for x in node for v in x.values()) and not any(
                x.get("name") or x.get("description") for x in node):
            return esc(" | ".join(_inline_text(x) for x in node))
        named = [x for x in node if isinstance(x, Mapping) and (x.get("name") or x.get("description"))]
        if len(named) == len(node) and any(isinstance(v, (Mapping, list)) for x in node for v in x.values()):
            # e.g. exclusion steps with code lists: their names and descriptions only
            return "<ul>" + "".join(
                f"<li><strong>{esc(x.get('name') or '')}</strong>"
                + (f": {esc(x.get('description'))}" if x.get("description") else "")
                + (f' <span class="muted">({_list_sizes(x)})</span>' if _list_sizes(x) else "") + "</li>"
                for x in node) + "</ul>"
        if all(isinstance(x, Mapping) and all(not isinstance(v, (Mapping, list)) for v in x.values()) for x in node):
            keys = list(dict.fromkeys(k for x in node for k in x))
            rows = [[_scalar_text(x.get(k)) for k in keys] for x in node]
            return html_table([label_for(k) for k in keys], rows, cls="data compact defs-table")
        return "<ul>" + "".join(f"<li>{_definition_html(x, depth + 1)}</li>" for x in node) + "</ul>"
    if isinstance(node, bool):
        return "yes" if node else "no"
    if node is None:
        return '<span class="muted">not set</span>'
    s = str(node)
    if "\n" in s.strip():
        return f"<pre>{esc(s.strip())}</pre>"
    return esc(s)


def _inline_text(node: Any) -> str:
    """A small configuration value on one line: ``icd9: 5 values; icd10: 4 values``,
    ``group: WHITE; prefixes: WHITE, PORTUGUESE``."""
    if isinstance(node, Mapping):
        return "; ".join(f"{k}: {_inline_text(v)}" for k, v in node.items())
    if isinstance(node, list):
        if len(node) > 6 or any(isinstance(x, (Mapping, list)) for x in node):
            return f"{len(node)} values"
        return ", ".join(_scalar_text(x) for x in node)
    return _scalar_text(node)


def _list_sizes(item: Mapping[str, Any]) -> str:
    """``"icd9: 54 values; icd10: 61 values"`` for the lists of one configuration entry."""
    return "; ".join(f"{k}: {len(v)} values" for k, v in item.items() if isinstance(v, list))


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return DASH if v is None else str(v)


def _yaml(obj: Any) -> str:
    try:
        import yaml

        # lists of plain values (code lists, covariate names) in flow style: [a, b, c]
        return yaml.safe_dump(_plain(obj), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    except Exception:  # pragma: no cover - pyyaml is a dependency
        return json.dumps(_plain(obj), indent=2, ensure_ascii=False)


def _suppression_note(ctx: _Ctx) -> str:
    """The one sentence that explains the small-count marks (see :mod:`.disclosure`)."""
    if ctx.t is None:
        return ""
    return (f"Counts from 1 to {ctx.t - 1} are shown as &lt;{ctx.t}; “hidden” marks a count withheld so that "
            "a small one cannot be recovered by subtraction.")


def _missing(name: str) -> str:
    return f'<p class="missing-input">Not available: <code>{esc(name)}</code> was not produced by this run.</p>'


def _figure(svg: str, caption: str) -> str:
    return f'<figure>{svg}<figcaption>{caption}</figcaption></figure>'


def _secs(s: Any) -> str:
    f = finite(s)
    if f is None:
        return DASH
    if f < 60:
        return f"{f:.1f} s"
    m, sec = divmod(int(round(f)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _bytes(n: Any) -> str:
    f = finite(n)
    if f is None:
        return DASH
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if f < 1024 or unit == "TB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return DASH  # pragma: no cover


def _date(iso: Any) -> str:
    if not iso:
        return DASH
    try:
        d = _dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return esc(iso)
    return f"{d.day} {d:%B %Y, %H:%M}" + (" UTC" if d.utcoffset() == _dt.timedelta(0) else "")


def _hr_triplet(ctx: _Ctx, key: str) -> tuple[Any, Any, Any, Any]:
    d = ctx.est.get(key)
    if not isinstance(d, Mapping):
        return None, None, None, None
    hr = ctx.get(f"{key}.hr")
    ci = ctx.get(f"{key}.ci95") or [None, None]
    p = ctx.get(f"{key}.p")
    lo, hi = (ci[0], ci[1]) if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
    if not _model_estimable(ctx, key, hr, lo, hi):
        ctx.not_estimable.add(key)
        return None, None, None, None
    return hr, lo, hi, p


def true_effect(ctx: _Ctx, key: str) -> tuple[float | None, str]:
    """The planted true value an estimate should be compared with on synthetic data, and
    what it is: the matched Cox and the matched risk difference estimate the marginal effect
    among the matched stays of the focal group; IPTW with the estimand's weights the marginal
    effect in the estimand population; the multivariable Cox model the planted conditional
    hazard ratio. ``(None, "")`` on real data or when the run does not give it."""
    t = ctx.truth
    if not t:
        return None, ""
    focal = t.get("focal", "treated")
    if key == "cox_matched" and isinstance(t.get("matched"), Mapping):
        return finite(t["matched"].get("hr")), f"true marginal HR of the matched {focal} stays"
    if key == "iptw" and isinstance(t.get("estimand"), Mapping):
        return finite(t["estimand"].get("hr")), f"true marginal HR of all {focal} stays of the cohort"
    if key == "cox_multivariable" and t.get("conditional_hr") is not None:
        return finite(t["conditional_hr"]), "planted conditional HR of the generator"
    if key == "risk_difference" and isinstance(t.get("matched"), Mapping):
        return finite(t["matched"].get("rd")), f"true risk difference of the matched {focal} stays"
    return None, ""


# The sample each whole-sample model is fitted on (for its events by arm).
_MODEL_SAMPLE = {"cox_matched": "matched", "cox_multivariable": "cohort", "iptw": "cohort"}


def _model_estimable(ctx: _Ctx, key: str, hr: Any, lo: Any, hi: Any) -> bool:
    """The report's one rule (:func:`.format.is_estimable`), plus: a model whose sample has
    no death in one arm within the horizon has no estimate (28-day mortality of 0)."""
    if not is_estimable(hr, lo, hi):
        return False
    sample = _MODEL_SAMPLE.get(key)
    mort = ctx.est.get("mortality_28d")
    if sample and isinstance(mort, Mapping):
        for g in ("treated", "control"):
            f = finite(mort.get(f"{sample}_{g}"))
            if f is not None and f == 0.0:
                return False
    return True


def _estimand_words(ctx: _Ctx) -> str:
    est = str(ctx.get("estimand") or "").upper()
    exp = esc(ctx.exposure)
    if est == "ATT":
        return (f"The estimate describes <strong>patients like those who received {exp}</strong> "
                "(average treatment effect in the treated, ATT): each treated stay was matched to control stays, "
                "so the matched sample resembles the treated group.")
    if est == "ATC":
        return (f"The estimate describes <strong>patients like those who did not receive {exp}</strong> "
                "(average treatment effect in the controls, ATC): each control stay was matched to treated stays, "
                "so the matched sample resembles the control group.")
    if est:
        return f"Estimand: <strong>{esc(est)}</strong>."
    return "The estimand (ATT or ATC) was not reported."


def _matching_words(ctx: _Ctx) -> str:
    m = ctx.est.get("matching") if isinstance(ctx.est.get("matching"), Mapping) else {}
    if not m:
        return "<p>The matching settings were not reported.</p>"
    est = str(ctx.est.get("estimand") or "ATT").upper()
    index, other = ("control", "treated") if est == "ATC" else ("treated", "control")
    ratio = ctx.get("matching.ratio")
    scale = ctx.get("matching.scale")
    caliper = ctx.get("matching.caliper_sd")
    n_pairs = ctx.get("matching.n_pairs")
    scale_words = {"logit": "logit of the propensity score", "ps": "propensity score", "probability": "propensity score"}.get(
        str(scale).lower(), f"{esc(scale)} of the propensity score" if scale else "propensity score")
    r = as_int(ratio)
    k = f"{r} {other} stay" + ("s" if r and r > 1 else "") if r else f"{other} stays"
    text = (f"Each {index} stay was matched to {'up to ' if r and r > 1 else ''}{k} by nearest-neighbour matching on the "
            f"{scale_words}")
    if not is_missing(caliper):
        text += f", only where the distance was within a caliper of {fmt_num(caliper, 2)} standard deviations of the {scale_words}"
    text += "."
    if n_pairs is not None:
        j = 0 if index == "treated" else 1
        hide_n, hide_m = ctx.group_flags()
        text += f" This formed <strong>{shown_count(n_pairs, ctx.sets_hidden(n_pairs), ctx.t)}</strong> matched sets."
        left = as_int(ctx.get("n_focal_unmatched"))
        ctx.get("n_focal")
        ctx.get("n_focal_matched")
        ctx.get("focal_group")
        n_index = ctx.n_group("cohort", index)
        if left is None and n_index is not None and as_int(n_pairs) is not None:
            left = n_index - as_int(n_pairs)  # type: ignore[operator]
        if left is not None and left >= 0:
            plural = "s" if left != 1 or is_small(left, ctx.t) else ""
            text += (f" {shown_count(left, hide_m[j][1] or is_small(left, ctx.t), ctx.t)} {index} stay{plural} found no match within the caliper and "
                     f"{'were' if plural else 'was'} left out.")
    extra = [(k2, v) for k2, v in m.items() if f"matching.{k2}" not in KNOWN_ESTIMATES]
    out = f"<p>{text}</p>"
    if extra:
        for k2, _ in extra:
            ctx.consumed.add(f"matching.{k2}")
        items = "".join(f"<dt>{esc(humanize(k2))}</dt><dd>{esc(value_text(f'matching.{k2}', v, ctx.t))}</dd>" for k2, v in extra)
        out += '<p class="sub">Further matching settings reported by the analysis:</p>'
        out += f'<dl class="defs compact">{items}</dl>'
    return out


# ----------------------------------------------------------------------------- sections


def _section(num: int | str, sid: str, title: str, body: str, appendix: bool = False) -> str:
    """A numbered section; an appendix section is a closed ``<details>`` (no script needed
    to open it; printed open, see the print stylesheet)."""
    cls = ' class="first"' if num == 1 else (' class="appendix"' if appendix else "")
    head = f'<h2 id="h-{sid}"><span class="num">{num}</span>{esc(title)}</h2>'
    if appendix:
        return (f'<section id="{sid}"{cls} aria-labelledby="h-{sid}"><details><summary>{head}</summary>\n'
                f'<div class="details-body">{body}</div>\n</details></section>\n')
    return f'<section id="{sid}"{cls} aria-labelledby="h-{sid}">{head}\n{body}\n</section>\n'


def _section_numbers() -> dict[str, str]:
    """1, 2, ... for the main sections; A, B, ... for the appendix."""
    out, main, app = {}, 0, 0
    for sid, _t in SECTIONS:
        if sid in APPENDIX:
            out[sid] = chr(ord("A") + app)
            app += 1
        else:
            main += 1
            out[sid] = str(main)
    return out


def section_summary(ctx: _Ctx) -> str:
    e = ctx.est
    n_cohort = ctx.get("n_cohort")
    n_t = ctx.get("n_treated")
    n_c = ctx.get("n_control")
    n_pairs = (e.get("matching") or {}).get("n_pairs") if isinstance(e.get("matching"), Mapping) else None
    hr, lo, hi, p = _hr_triplet(ctx, "cox_matched")
    mort = e.get("mortality_28d") if isinstance(e.get("mortality_28d"), Mapping) else {}
    cards = [
        ("Study cohort", ctx.count(n_cohort), "ICU stays"),
        ("Treated / control", f"{ctx.group_count('cohort', 'treated')} / {ctx.group_count('cohort', 'control')}", f"{esc(ctx.exposure)} / not"),
        ("Matched sets", _n_sets_text(ctx, n_pairs), _ratio_words(ctx)),
        ("Hazard ratio of death, matched",
         fmt_num(hr, 2) if not is_missing(hr) else (NOT_ESTIMABLE if "cox_matched" in ctx.not_estimable else DASH),
         (f"95% CI {fmt_num(lo, 2)}\u2013{fmt_num(hi, 2)}" if not is_missing(lo) else "")
         + (f" · p = {fmt_p(p)}" if not is_missing(p) else "")
         + (f'<br><span class="true">true (synthetic): {fmt_num(true_effect(ctx, "cox_matched")[0], 2)}</span>'
            if true_effect(ctx, "cox_matched")[0] is not None else "")),
        (f"{horizon_days(ctx.est)}-day mortality, matched", f"{_mort_cell(ctx, 'matched', 'treated', mort.get('matched_treated'))} vs "
         f"{_mort_cell(ctx, 'matched', 'control', mort.get('matched_control'))}", "treated vs control"),
    ]
    bal = e.get("balance") if isinstance(e.get("balance"), Mapping) else {}
    if bal:
        cards.append(("Largest |SMD| after matching", fmt_num(ctx.get("balance.max_abs_smd_after"), 3),
                      f"before: {fmt_num(ctx.get('balance.max_abs_smd_before'), 3)}"))
    card_html = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div><div class="sub">{sub}</div></div>'
        for label, value, sub in cards)
    parts = [f'<div class="cards">{card_html}</div>']
    words = []
    if n_cohort is not None:
        words.append(f"The study cohort holds {ctx.count(n_cohort)} ICU stays, {ctx.group_count('cohort', 'treated')} of "
                     f"which received {esc(ctx.exposure)} and {ctx.group_count('cohort', 'control')} did not.")
    if not is_missing(hr):
        words.append(f"In the matched sample the hazard ratio of death within {horizon_days(ctx.est)} days, treated "
                     "versus control, was "
                     f"<strong>{fmt_ci(hr, lo, hi)}</strong> (95% confidence interval; p = {fmt_p(p)}).")
        tv, tw = true_effect(ctx, "cox_matched")
        if tv is not None:
            words.append(f"The data are synthetic, so the effect is known: the {esc(tw)} is <strong>{fmt_num(tv, 2)}</strong>"
                         + (f" (planted conditional HR {fmt_num(ctx.truth['conditional_hr'], 2)})"
                            if ctx.truth and ctx.truth.get("conditional_hr") is not None else "") + ".")
    if words:
        parts.append(f"<p>{' '.join(words)}</p>")
    pop = ctx.get("population")
    desc = ctx.get("estimand_description")
    parts.append(f"<p>{_estimand_words(ctx)}</p>")
    for text in (pop, desc):
        if text:
            parts.append(f'<p class="note"><strong>Population.</strong> {esc(_counts_in_words(ctx, str(text)))}</p>')
    if not e:
        parts.append(_missing("estimates.json"))
    return "".join(parts)


def _n_sets_text(ctx: _Ctx, n_pairs: Any) -> str:
    """Matched sets: one per matched stay of the focal group, so hidden with that count."""
    est = str(ctx.est.get("estimand") or "ATT").upper()
    j = 1 if est == "ATC" else 0
    return shown_count(n_pairs, ctx.sets_hidden(n_pairs) or ctx.group_flags()[1][j][0], ctx.t)


def _counts_in_words(ctx: _Ctx, text: str) -> str:
    """The analysis' own sentences name counts ("Only 37 of the 51 untreated stays found a
    match"): the focal group's matched and total counts are replaced by what the report
    shows for them, and a number 1 .. threshold-1 that counts stays, patients, deaths, events
    or sets ("7 untreated (control) stays", "3 of the 51 stays") by ``<threshold``."""
    if ctx.t is None:
        return text
    est = str(ctx.est.get("estimand") or "ATT").upper()
    sample_group = "control" if est == "ATC" else "treated"
    j = 1 if est == "ATC" else 0
    hide_n, hide_m = ctx.group_flags()
    n_all, n_m = ctx.n_group("cohort", sample_group), ctx.n_group("matched", sample_group)
    if n_all is not None and n_m is not None:
        text = re.sub(rf"\b{n_m} of the {n_all}\b",
                      f"{shown_count(n_m, hide_m[j][0] or is_small(n_m, ctx.t), ctx.t)} of the "
                      f"{shown_count(n_all, hide_n[j] or is_small(n_all, ctx.t), ctx.t)}", text)
    nouns = r"(?:of the |of )?(?:[\d,]+ )?(?:\w+ )?(?:\(\w+\) )?(?:stays?|patients?|deaths?|events?|pairs?|sets?)\b"
    return re.sub(rf"(?<![\d.,<])(\d+)(?=\s+{nouns})",
                  lambda m: f"<{ctx.t}" if is_small(int(m.group(1)), ctx.t) else m.group(1), text)


def _ratio_words(ctx: _Ctx) -> str:
    m = ctx.est.get("matching") if isinstance(ctx.est.get("matching"), Mapping) else {}
    r = as_int(m.get("ratio")) if m else None
    return f"1:{r} propensity-score matching" if r else "propensity-score matching"


def _mort_hidden(ctx: _Ctx, sample: str, group: str, frac: Any) -> str | None:
    """Why a mortality fraction of the horizon is not shown (its text), or None: the group
    size is hidden, or the deaths it implies (fraction x group n) or the survivors are a
    small count."""
    if ctx.t is None or is_missing(frac):
        return None
    n = ctx.n_group(sample, group)
    if n is None or ctx.group_hidden(sample, group):
        return '<span class="muted">hidden</span>'
    try:
        deaths = round(float(frac) * n)
    except (TypeError, ValueError):
        deaths = None
    if deaths is not None and 0 <= deaths <= n:
        # deaths and survivors are one total (the group n): neither may be small
        dec = hide_row([deaths, n - deaths], n, ctx.t, unpublished=[False, True])
        if dec.hidden[0] or dec.total_hidden:
            return f"&lt;{ctx.t} deaths" if is_small(deaths, ctx.t) else '<span class="muted">hidden</span>'
    return None


def _mort_cell(ctx: _Ctx, sample: str, group: str, frac: Any, key: str | None = None) -> str:
    """A mortality fraction of the horizon; hidden when the deaths it implies are a small count."""
    if is_missing(frac):
        return DASH
    ctx.consumed.add(f"mortality_28d.{key or f'{sample}_{group}'}")
    return _mort_hidden(ctx, sample, group, frac) or fmt_frac_pct(frac)


def _risk_difference_hidden(ctx: _Ctx, sample: str) -> bool:
    """True when a risk of ``sample`` is hidden (:func:`_mort_hidden`, crude or Kaplan-Meier):
    the risk difference is one risk minus the other, so with the other shown it would give
    the hidden one back, and the deaths with it."""
    mort = ctx.est.get("mortality_28d") if isinstance(ctx.est.get("mortality_28d"), Mapping) else {}
    return any(_mort_hidden(ctx, sample, g, mort.get(f"{pre}{sample}_{g}")) is not None
               for g in ("treated", "control") for pre in ("", "km_"))


def _sentence_case(text: str) -> str:
    """A label inside a sentence: ``"First ICU stay"`` -> ``"first ICU stay"``; a first word
    that is a name or abbreviation (``"Sepsis-3"``, ``"SOFA"``, ``"Age"`` stays ``"age"``) keeps
    its case unless it is a plain capitalised word."""
    words = text.split(" ", 1)
    first = words[0]
    core = first.rstrip(":,;")
    if core.isalpha() and len(core) > 1 and core[0].isupper() and core[1:].islower():
        return first.lower() + ("" if len(words) == 1 else " " + words[1])
    return text


def _join_words(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _hours_window(w: Any, what: str) -> str:
    if not isinstance(w, Mapping) or w.get("start") is None or w.get("end") is None:
        return ""
    return f"{what} from {fmt_num(w['start'], 0)} to {fmt_num(w['end'], 0)} h after ICU admission"


def _covariate_names(ctx: _Ctx) -> list[str]:
    cov = ctx.study.get("covariates")
    names: list[str] = []
    if isinstance(cov, Mapping):
        for kind in ("continuous", "binary", "categorical"):
            v = cov.get(kind)
            if isinstance(v, list):
                names += [str(x) for x in v if not isinstance(x, (Mapping, list))]
    elif isinstance(cov, list):
        names = [str(c.get("name")) for c in cov if isinstance(c, Mapping) and c.get("name")]
    if not names:
        bal = ctx.res.table("balance")
        if bal is not None:
            kinds = bal["kind"].astype(str).str.lower() if "kind" in bal.columns else None
            sel = bal if kinds is None else bal[kinds.isin(["continuous", "binary", "categorical"])]
            names = list(dict.fromkeys(sel["covariate"].astype(str)))
    return names


def methods_paragraphs(ctx: _Ctx) -> list[str]:
    """The methods text a co-author can paste and edit, one HTML-escaped paragraph per
    topic: data source and version, cohort criteria (the attrition steps, in order),
    exposure, outcome, covariates and their windows, propensity model, matching, estimand,
    outcome models, software. Built only from the study file, ``estimates.json`` and the
    provenance; a topic the run does not report is left out rather than guessed."""
    s, e, prov = ctx.study, ctx.est, ctx.prov
    data = prov.get("data") or {}
    sw = prov.get("software") or {}
    out: list[str] = []
    # data source
    version = data.get("mimic_version")
    if data.get("kind") == "synthetic":
        src = ("We used a synthetic data set in MIMIC-IV format generated by icu-cohort"
               + (f" (format of MIMIC-IV v{esc(str(version).split()[0])})" if version else "")
               + "; it holds no patient data, so the results below only test the pipeline.")
    else:
        src = ("We used MIMIC-IV" + (f" v{esc(version)}" if version else "")
               + " (Johnson et al., Sci Data 2023), a de-identified database of patients admitted to the intensive "
               "care units of the Beth Israel Deaconess Medical Center, Boston (PhysioNet, credentialed access).")
    out.append(src + " The source tables were converted to Parquet and queried with DuckDB; clinical concepts "
               "(first-day scores, Sepsis-3, vital signs, laboratory values, vasopressors, ventilation) follow the "
               "MIT-LCP mimic-code definitions (mimic-iv/concepts).")
    # cohort
    att = ctx.res.table("attrition")
    if att is not None and len(att) > 1:
        steps = [esc(_sentence_case(str(d))) for d in att["description"].iloc[1:]]
        out.append("The study cohort comprised the ICU stays that met, in this order: " + "; ".join(steps)
                   + f" (flow in section {_section_numbers()['cohort']}).")
    # exposure
    exp = s.get("exposure") if isinstance(s.get("exposure"), Mapping) else {}
    if exp:
        desc = exp.get("description") or exp.get("label") or ctx.exposure
        end = exp.get("window_end_hours")
        start = exp.get("window_start_hours")
        if end is None:
            when = "at any time during the ICU stay" + (f" from {fmt_num(start, 0)} h after admission" if start else "")
        else:
            when = f"starting within {fmt_num(end, 0)} h of ICU admission"
        out.append(f"The exposure was {esc(desc)} {when}; stays with it formed the treated group and the others the "
                   "control group.")
    # outcome
    h = finite(e.get("mortality_28d", {}).get("horizon_days") if isinstance(e.get("mortality_28d"), Mapping) else None)
    oc = s.get("outcome") if isinstance(s.get("outcome"), Mapping) else {}
    h = h or finite(oc.get("horizon_days")) or 28
    out.append(f"The outcome was death from any cause within {h:g} days of ICU admission (hospital death time, else "
               f"the recorded date of death); survivors were censored at day {h:g}."
               + (f" {secondary_methods(e)}" if secondary_methods(e) else ""))
    # covariates
    names = _covariate_names(ctx)
    cov = s.get("covariates") if isinstance(s.get("covariates"), Mapping) else {}
    if names:
        labels = [label_for(n, ctx.labels) for n in names]
        if any("," in lab for lab in labels):  # "Age, years": list with semicolons
            text = "Covariates were " + esc("; ".join(labels)) + "."
        else:
            text = "Covariates were " + esc(_join_words([_sentence_case(lab) for lab in labels])) + "."
        wins = [_hours_window(cov.get("vitals_window_hours"), "vital signs averaged"),
                _hours_window(cov.get("labs_window_hours"), "laboratory values as the first value"),
                _hours_window(cov.get("treatments_window_hours"), "treatments")]
        wins = [w for w in wins if w]
        if wins:
            text += " Windows: " + esc("; ".join(wins)) + "."
        imp = e.get("imputation") if isinstance(e.get("imputation"), Mapping) else {}
        if imp.get("description"):
            text += f" Missing values: {esc(imp['description'])}."
        out.append(text)
    # propensity and matching
    pm = e.get("ps_model") if isinstance(e.get("ps_model"), Mapping) else {}
    m = e.get("matching") if isinstance(e.get("matching"), Mapping) else {}
    est = str(e.get("estimand") or "").upper()
    if pm or m:
        t = "The propensity score (probability of treatment given the covariates) was estimated by "
        t += esc(pm.get("method") or "logistic regression")
        if pm.get("penalty") not in (None, "none"):
            t += f" with an {esc(pm['penalty'])} penalty"
        if finite(e.get("c_statistic")) is not None:
            t += f" (c-statistic {fmt_num(e['c_statistic'], 2)})"
        t += "."
        if m:
            focal, other = ("control", "treated") if est == "ATC" else ("treated", "control")
            r = as_int(m.get("ratio")) or 1
            t += (f" Each {focal} stay was matched to {'up to ' if r > 1 else ''}{r} {other} stay{'s' if r > 1 else ''} by "
                  f"nearest-neighbour matching {'with' if m.get('replace') else 'without'} replacement on the "
                  + ("logit of the " if str(m.get("scale")).lower() == "logit" else "")
                  + "propensity score"
                  + (f", within a caliper of {fmt_num(m.get('caliper_sd'), 2)} standard deviations" if finite(m.get("caliper_sd")) else "")
                  + ".")
        if est in ("ATT", "ATC"):
            t += (" The estimand was the average treatment effect in the " + ("treated (ATT)" if est == "ATT" else "untreated (ATC)")
                  + ".")
        thr = finite(e.get("balance", {}).get("threshold") if isinstance(e.get("balance"), Mapping) else None) or 0.1
        t += f" Balance was judged by absolute standardised mean differences, below {thr:g} taken as balanced."
        out.append(t)
    # outcome models
    models = []
    if "cox_matched" in e:
        cm = e["cox_matched"] if isinstance(e["cox_matched"], Mapping) else {}
        models.append("a Cox model of treatment in the matched sample" + (f" ({esc(cm['variance'])} variance)" if cm.get("variance") else ""))
    if "cox_multivariable" in e:
        models.append("a multivariable Cox model of the whole cohort adjusted for the covariates")
    if "iptw" in e:
        iw = e["iptw"] if isinstance(e["iptw"], Mapping) else {}
        w = "stabilised " if iw.get("stabilized") else ""
        tr = iw.get("truncation_percentiles")
        models.append(f"a Cox model of the whole cohort weighted by {w}inverse probability of treatment weights"
                      + (f" truncated at the {tr[0]}th and {tr[1]}th percentiles" if isinstance(tr, list) and len(tr) == 2 else ""))
    if models:
        t = "Hazard ratios of death were estimated with " + _join_words(models) + "."
        extra = ["Kaplan-Meier curves with the log-rank test"]
        if "risk_difference" in e:
            extra.append(f"the {h:g}-day risk difference")
        if "ph_test" in e:
            extra.append("tests of proportional hazards on scaled Schoenfeld residuals")
        if "evalue" in e:
            extra.append("the E-value for unmeasured confounding")
        if "subgroups" in e or ctx.res.table("subgroups") is not None:
            extra.append("subgroup hazard ratios with treatment-by-subgroup interaction tests")
        t += " We also report " + _join_words(extra) + "."
        if finite(e.get("alpha")) is not None:
            t += f" Tests were two-sided at the {fmt_num(e['alpha'], 2)} level."
        out.append(t)
    # software
    if sw:
        keys = [k for k in ("python", "duckdb", "pandas", "numpy", "scikit-learn", "lifelines", "scipy", "snakemake")
                if sw.get(k) and sw.get(k) != "not installed"]
        git = prov.get("git") or {}
        commit = f", commit {esc(str(git['commit'])[:10])}" if git.get("commit") else ""
        out.append(f"Analyses were run with icu-cohort {esc(sw.get('icu-cohort', ''))}{commit} ("
                   + ", ".join(f"{'Python' if k == 'python' else esc(k)} {esc(sw[k])}" for k in keys) + ").")
    return out


def section_methods(ctx: _Ctx) -> str:
    paras = methods_paragraphs(ctx)
    return ('<p class="muted">Generated from the study file, the analysis and the run\u2019s provenance; written to be '
            "pasted into a manuscript and edited.</p>"
            + '<div class="methods-text">' + "".join(f"<p>{p}</p>" for p in paras) + "</div>")


def section_definition(ctx: _Ctx) -> str:
    s = ctx.study
    parts = []
    q = s.get("question")
    parts.append("<h3>Question</h3>")
    parts.append(f'<p class="question">{esc(q) if q else "<span class=muted>not stated</span>"}</p>')
    if s.get("description"):
        parts.append(f"<p>{esc(s['description'])}</p>")
    if s.get("reference"):
        parts.append(f'<p class="muted">Reference: {esc(s["reference"])}</p>')
    parts.append("<h3>Study definition</h3>")
    shown = False
    for key in ("cohort", "exposure", "outcome", "covariates", "analysis"):
        if key in s:
            shown = True
            parts.append(f'<h4 class="kicker">{esc(humanize(key))}</h4>{_definition_html(_plain(s[key]))}')
    if not shown:
        parts.append('<p class="muted">The study configuration has no cohort, exposure, outcome, covariate or analysis section.</p>')
    parts.append('<p class="muted">The complete configuration, as run, is reproduced under Provenance and configuration.</p>')
    return "".join(parts)



def _run_html(ctx: _Ctx) -> str:
    prov = ctx.prov
    parts = []
    parts.append("<h3>Run</h3>")
    data = prov.get("data") or {}
    git = prov.get("git") or {}
    seed = prov.get("seed")
    if seed is None:
        seed = ctx.est.get("seed")
    ctx.consumed.add("seed")
    kind = data.get("kind")
    source = {"synthetic": "Synthetic MIMIC-IV (generated by icu-cohort; no patient data)",
              "mimic": "MIMIC-IV (PhysioNet, credentialed access)"}.get(str(kind), esc(kind) if kind else DASH)
    commit = git.get("commit")
    commit_txt = (f"<code>{esc(commit)}</code>" + (' <span class="flag">with uncommitted changes</span>' if git.get("dirty") else "")
                  if commit else '<span class="muted">not a git checkout</span>')
    items = [
        ("Data", source),
        ("MIMIC-IV version", esc(data.get("mimic_version")) if data.get("mimic_version") else DASH),
        ("Data folder", f"<code>{esc(data.get('source'))}</code>" if data.get("source") else DASH),
        ("Run", _date(prov.get("generated_at"))),
        ("Git commit", commit_txt + (f" <span class=\"sub\">({esc(git.get('branch'))})</span>" if git.get("branch") else "")),
        ("Random seed", esc(seed) if seed is not None else DASH),
        ("Platform", esc(prov.get("platform")) if prov.get("platform") else DASH),
    ]
    parts.append('<dl class="defs">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>")
    sw = prov.get("software") or {}
    if sw:
        parts.append("<h3>Software</h3>")
        parts.append(_split_table(["Package", "Version"], [[k, v] for k, v in sw.items()], [False, False], min_rows=8))
    stages = prov.get("stages") or []
    parts.append("<h3>Time taken</h3>")
    if stages:
        rows = [[humanize(st.get("stage")), _secs(st.get("seconds")),
                 fmt_num(st.get("max_rss_mb"), 0) if st.get("max_rss_mb") is not None else DASH] for st in stages]
        total = sum(f for f in (finite(st.get("seconds")) for st in stages) if f is not None)
        rows.append([Markup("<strong>Total (stages with a benchmark)</strong>"), Markup(f"<strong>{_secs(total)}</strong>"), ""])
        parts.append(html_table(["Stage", "Wall-clock time", "Peak memory, MB"], rows, cls="data compact",
                                numeric=[False, True, True]))
    else:
        parts.append('<p class="muted">No stage benchmarks were recorded for this run.</p>')
    return "".join(parts)


def section_cohort(ctx: _Ctx) -> str:
    att = ctx.res.table("attrition")
    parts = []
    if att is None:
        parts.append(_missing(CSV_FILES["attrition"][0]))
    else:
        groups = [
            (f"Treated: {ctx.exposure}", ctx.n_group("cohort", "treated"), ctx.n_group("matched", "treated")),
            ("Control", ctx.n_group("cohort", "control"), ctx.n_group("matched", "control")),
        ]
        if all(g[1] is None for g in groups):
            groups = []
        parts.append(_figure(
            attrition_svg(att, ctx.t, groups=groups or None, group_flags=ctx.group_flags() if groups else None)
            + attrition_svg(att, ctx.t, groups=groups or None, key="attrition-narrow", narrow=True,
                            group_flags=ctx.group_flags() if groups else None),
            "Flow of ICU stays from the source tables to the study cohort (CONSORT style). Each box gives the stays "
            "remaining after the criterion it names; grey boxes give the stays the step excluded and why; the cohort "
            "splits into the compared groups and each group into the stays matched and not matched. "
            + _suppression_note(ctx),
        ))
    parts.append(_periods_html(ctx))
    imp = ctx.est.get("imputation")
    if isinstance(imp, Mapping):
        method = ctx.get("imputation.method")
        desc = ctx.get("imputation.description")
        n_imp = as_int(ctx.get("imputation.n_imputations"))
        pooled = ctx.get("imputation.pooled")
        describe = ctx.get("imputation.files_describe")
        ctx.get("imputation.n_missing")  # the same counts as covariate_missingness.csv
        text = f"Missing values in the propensity and outcome models: {esc(desc or humanize(method or 'not reported'))}"
        if n_imp and n_imp > 1:
            text += f"; {n_imp} imputed data sets"
            if pooled:
                text += f", estimates of {esc(', '.join(map(str, pooled)))} pooled by Rubin's rules"
            if describe:
                text += f"; tables and figures describe {esc(describe)}"
        parts.append(f'<p class="muted">{text}. Missing values per covariate: Supplementary tables.</p>')
    return "".join(parts)


def _split_table(header: list[str], rows: list[list[Any]], numeric: list[bool], min_rows: int = 16) -> str:
    """A long, narrow table as two tables side by side (one column on a phone): the first
    half of the rows left, the rest right. Short tables stay one table."""
    if len(rows) < min_rows:
        return html_table(header, rows, cls="data compact", numeric=numeric)
    half = (len(rows) + 1) // 2
    return ('<div class="split2">' + html_table(header, rows[:half], cls="data compact", numeric=numeric)
            + html_table(header, rows[half:], cls="data compact", numeric=numeric) + "</div>")


def _attrition_table_html(ctx: _Ctx) -> str:
    att = ctx.res.table("attrition")
    if att is None:
        return _missing(CSV_FILES["attrition"][0])
    dec = attrition_decisions(att, ctx.t)
    rows = [[str(r.step), str(r.description), shown_count(r.n_remaining, dec.remaining[i], ctx.t),
             shown_count(r.n_excluded, dec.removed[i], ctx.t)]
            for i, r in enumerate(att.itertuples(index=False))]
    return '<div class="scroll">' + html_table(["Step", "Criterion", "Remaining", "Excluded"], rows, cls="data compact",
                                              numeric=[False, False, True, True]) + "</div>"


def _missingness_html(ctx: _Ctx) -> str:
    miss = ctx.res.table("missingness")
    if miss is None:
        return _missing(CSV_FILES["missingness"][0])
    n_miss = pd.to_numeric(miss["n_missing"], errors="coerce").fillna(0)
    some = miss[n_miss > 0]
    complete = [label_for(c, ctx.labels) for c in miss.loc[n_miss <= 0, "covariate"]]
    out = "<p>Stays of the study cohort with no value for each covariate (before any imputation).</p>"
    if len(some):
        out += missingness_table_html(some, ctx.t, ctx.labels)
    if complete:
        out += f'<p class="muted">No missing values: {esc(", ".join(complete))}.</p>'
    return out


def _periods_html(ctx: _Ctx) -> str:
    """The exposure rate per period of admission (estimates ``exposure_by_period``), with a
    warning for each period that departs from the others. A treated count is hidden when it,
    or the untreated count it implies, is a small count."""
    periods = ctx.get("exposure_by_period")
    if not isinstance(periods, Mapping) or not periods.get("groups"):
        return ""
    groups = list(periods["groups"])
    ns = [as_int(g.get("n")) for g in groups]
    ks = [as_int(g.get("n_treated")) for g in groups]
    # Two totals: the stays per period add up to the cohort, the treated to the treated group.
    total_n = as_int(ctx.est.get("n_cohort"))
    hide_n = hide_row(ns, total_n if None not in ns and sum(ns) == total_n else None, ctx.t).hidden  # type: ignore[arg-type]
    row_hidden = [n is None or k is None or is_small(k, ctx.t) or (not hn and is_small(n - k, ctx.t))
                  for n, k, hn in zip(ns, ks, hide_n)]
    total_k = ctx.n_group("cohort", "treated")
    if None not in ks and total_k is not None and sum(ks) == total_k and not ctx.group_hidden("cohort", "treated"):  # type: ignore[arg-type]
        row_hidden = hide_row(ks, total_k, ctx.t, hidden=row_hidden).hidden
    rows = []
    for g, n, k, hn, hk in zip(groups, ns, ks, hide_n, row_hidden):
        treated = "suppressed" if hk else f"{k:,} ({fmt_frac_pct(g.get('share'))})"
        rows.append([esc(str(g.get("group"))), shown_count(n, hn, ctx.t), treated,
                     "departs" if g.get("departs") else ""])
    html = [f"<h3>Exposure by period of admission ({esc(str(periods.get('column')))})</h3>",
            html_table(["Period", "Stays", "Treated", ""], rows, cls="data compact",
                       numeric=[False, True, True, False])]
    for name in periods.get("departing") or []:
        html.append(f'<p class="warn">In {esc(str(name))} the share treated differs from that of the other periods '
                    f"by more than {fmt_frac_pct(periods.get('max_difference'))}: the exposure may be documented "
                    "differently in that period (MIMIC-IV v3.1 holds far fewer electrolyte infusion rows in "
                    "2020 - 2022, for instance). Consider a sensitivity analysis without it.</p>")
    if ctx.t is not None and any(r[2] == "suppressed" for r in rows):
        html.append(f"<p>Treated counts are suppressed where they or the untreated count are below {ctx.t}.</p>")
    return "".join(html)


def section_matching(ctx: _Ctx) -> str:
    parts = [f"<p>{_estimand_words(ctx)}</p>", _matching_words(ctx)]
    c = ctx.get("c_statistic")
    if c is not None:
        parts.append(f"<p>The propensity-score model discriminates treated from control stays with a c-statistic of "
                     f"<strong>{fmt_num(c, 3)}</strong> (0.5: no better than chance; close to 1: little overlap between groups).</p>")
    if ctx.res.ps_hist is not None:
        parts.append(_figure(
            ps_histogram_svg(ctx.res.ps_hist, ctx.t, labels=GROUP_LABELS,
                             hidden_sizes={(s, g): ctx.group_hidden(sample, g) for s, sample in
                                           (("before", "cohort"), ("after", "matched")) for g in ("treated", "control")}),
            "Distribution of the propensity score (the modelled probability of treatment) among treated stays (up, blue) "
            f"and control stays (down, vermillion), as the percentage of each group in bins of width "
            f"{1 / ps_display_bins(ctx.res.ps_hist, ctx.t):g}. Good overlap after matching means the compared groups "
            "are alike in the measured covariates."
            + (f" Hatched marks: bins with 1 to {ctx.t - 1} stays of a group, or hidden so that such a bin cannot be "
               "derived from the others, not drawn to scale." if ctx.t else ""),
        ))
    else:
        parts.append(_missing("propensity.parquet / matched.parquet"))
    parts.append(_ps_model_html(ctx))
    ps = ctx.res.table("ps_summary")
    if ps is not None:
        parts.append("<h3>Propensity score by group</h3>")
        parts.append('<div class="scroll">' + ps_summary_table_html(ps, ctx.t, {"treated": GROUP_LABELS[0], "control": GROUP_LABELS[1]},
                                                                  {(s, g): ctx.group_hidden(sample, g) for s, sample in
                                                                   (("before", "cohort"), ("after", "matched"))
                                                                   for g in ("treated", "control")})
                     + "</div>")
    else:
        parts.append(_missing(CSV_FILES["ps_summary"][0]))
    return "".join(parts)


def _ps_model_html(ctx: _Ctx) -> str:
    """The propensity model as reported in ``estimates.json`` (``ps_model``), if it is."""
    pm = ctx.est.get("ps_model")
    if not isinstance(pm, Mapping):
        return ""
    out = ["<h3>Propensity-score model</h3>"]
    bits = []
    method = ctx.get("ps_model.method")
    if method:
        bits.append(esc(method))
    pen = ctx.get("ps_model.penalty")
    if pen not in (None, "none"):
        c = ctx.get("ps_model.C")
        bits.append(f"{esc(pen)} penalty" + (f" (C = {fmt_num(c, 3)})" if c is not None else ""))
    else:
        ctx.get("ps_model.C")
    ncol = ctx.get("ps_model.n_columns")
    if ncol is not None:
        bits.append(f"{esc(ncol)} model columns")
    conv = ctx.get("ps_model.converged")
    n_iter = ctx.get("ps_model.n_iter")
    if conv is not None:
        bits.append(("converged" if conv else '<span class="flag">did not converge</span>')
                    + (f" in {esc(n_iter)} iterations" if n_iter is not None else ""))
    ctx.get("ps_model.c_statistic")
    ctx.get("ps_model.columns")
    if bits:
        out.append("<p>" + "; ".join(bits) + ".</p>")
    dropped = ctx.get("ps_model.dropped_columns")
    if dropped:
        out.append(f"<p>Columns left out of the model (constant or collinear): {esc(', '.join(map(str, dropped)))}.</p>")
    refs = ctx.get("ps_model.categorical_reference")
    if isinstance(refs, Mapping) and refs:
        out.append("<p>Reference levels: " + esc("; ".join(f"{label_for(k, ctx.labels)}: {v}" for k, v in refs.items())) + ".</p>")
    if isinstance(ctx.est["ps_model"].get("coefficients"), Mapping):
        out.append('<p class="muted">Coefficients: Supplementary tables.</p>')
    for k in pm:
        if f"ps_model.{k}" not in ctx.consumed:
            pass  # shown in "Other estimates"
    return "".join(out)


def _ps_coefficients_html(ctx: _Ctx) -> str:
    pm = ctx.est.get("ps_model")
    coefs = ctx.get("ps_model.coefficients") if isinstance(pm, Mapping) else None
    if not isinstance(coefs, Mapping) or not coefs:
        return ""
    rows: list[list[Any]] = [[str(k), fmt_num(v, 3)] for k, v in coefs.items()]
    return ("<h3>Propensity-score model coefficients</h3>"
            + _split_table(["Model column", "Coefficient (log-odds)"], rows, [False, True]))


def section_balance(ctx: _Ctx) -> str:
    parts = []
    bal = ctx.res.table("balance")
    line = finite(ctx.get("balance.threshold")) or 0.1
    if bal is None:
        parts.append(_missing(CSV_FILES["balance"][0]))
    else:
        rows = bal
        if "kind" in bal.columns:
            rows = bal[bal["kind"].astype(str).str.lower().isin(["continuous", "binary", "categorical"])]
        n_bad = int(pd.to_numeric(rows["smd_after"], errors="coerce").abs().gt(line).sum())
        names = ctx.get("balance.imbalanced_after")
        ctx.get("balance.n_imbalanced_after")
        ctx.get("balance.n_imbalanced_before")
        ctx.get("balance.max_abs_smd_after_incl_missing")
        text = (f"<p>An absolute standardised mean difference (SMD) below {line:g} is the usual mark of adequate balance. "
                f"After matching, <strong>{n_bad}</strong> of {len(rows)} covariate rows (a categorical covariate has one "
                f"row per level) have an absolute SMD above {line:g}")
        if isinstance(names, list) and names:
            text += ": " + esc(", ".join(map(str, names)))
        parts.append(text + ".</p>")
        parts.append(_figure(
            love_plot_svg(bal, ctx.labels, line=line),
            "Love plot: absolute standardised mean difference of each covariate before matching (open circles) and after "
            f"matching (filled diamonds). Dashed line: {line:g}. Missing-value indicators of the propensity model are "
            "labelled \u201cmissing\u201d.",
        ))
        parts.append('<p class="muted">Balance diagnostics per covariate (SMD, variance ratios): Supplementary tables.</p>')
    return "".join(parts)


def _balance_table_html(ctx: _Ctx) -> str:
    bal = ctx.res.table("balance")
    if bal is None:
        return _missing(CSV_FILES["balance"][0])
    return '<div class="scroll">' + balance_table_html(bal, ctx.labels) + "</div>"


def section_table1(ctx: _Ctx) -> str:
    parts = ["<p>Characteristics of the treated and control stays before matching (whole cohort) and after matching, "
             "with the standardised mean difference (SMD) of each.</p>"]
    t1 = ctx.res.table("table1")
    if t1 is None:
        parts.append(_missing(CSV_FILES["table1"][0]))
    else:
        sizes = {}
        for s, sample in (("before", "cohort"), ("after", "matched")):
            for g in ("treated", "control"):
                v = ctx.n_group(sample, g)
                if v is not None:
                    sizes[(s, g)] = v
        hidden = {(s, g): ctx.group_hidden(sample, g) for s, sample in (("before", "cohort"), ("after", "matched"))
                  for g in ("treated", "control")}
        parts.append('<div class="scroll">' + table1_html(t1, ctx.t, ctx.labels, sizes, GROUP_LABELS, hidden) + "</div>")
        parts.append(f'<p class="muted">Continuous covariates: mean (SD), and median [first quartile, third quartile] below it. '
                     f"Binary and categorical covariates: n (% of the group with a value)."
                     + (" " + _suppression_note(ctx) + " " + esc(table1_hidden_note(ctx.t)) if ctx.t else "")
                     + "</p>")
    return "".join(parts)


def section_survival(ctx: _Ctx) -> str:
    parts = []
    km = ctx.res.table("km")
    risk = ctx.res.table("km_at_risk")
    p = ctx.get("km.logrank_p")
    p_cohort = ctx.get("km.logrank_p_cohort")
    ctx.get("km.sample")
    horizon = finite(ctx.get("mortality_28d.horizon_days")) or 28
    if km is None:
        parts.append(_missing(CSV_FILES["km"][0]))
    else:
        for sample, title, lp in (("matched", "Matched sample", p), ("cohort", "Whole cohort (before matching)", p_cohort)):
            sub = km[km["sample"].astype(str) == sample]
            if sub.empty:
                continue
            rsub = risk[risk["sample"].astype(str) == sample] if risk is not None else None
            cap = (f"Kaplan-Meier estimate of survival to day {horizon:g}, {title.lower()}, with 95% confidence bands. "
                   "Numbers at risk are given under the time axis.")
            if ctx.t is not None:
                cap += (f" So that no small number of deaths can be read from a step, each drawn step covers 0 or at "
                        f"least {ctx.t} deaths (the curve is held flat until that many have died); the mortality "
                        "figures below are exact.")
            if lp is not None:
                cap += " The log-rank test compares the two curves."
            hidden = (ctx.group_hidden(sample, "treated"), ctx.group_hidden(sample, "control"))
            nested = None
            if sample == "matched" and risk is not None and (risk["sample"].astype(str) == "cohort").any():
                # both samples' numbers at risk are shown: their difference (not matched, at risk) stays unreadable
                times = sorted({float(t) for t in pd.to_numeric(risk["time"], errors="coerce").dropna()})
                sizes = {(s, g): ctx.group_hidden(s, g) for s in ("cohort", "matched") for g in ("treated", "control")}
                nested = {g: nested_hidden_times(risk, g, times, ctx.t, sizes) for g in ("treated", "control")}
            parts.append(_figure(km_plot_svg(sub, rsub, ctx.t, title=title, logrank_p=lp, labels=GROUP_LABELS,
                                             key=f"km-{sample}", hidden_sizes=hidden, hidden_times=nested), cap))
        if risk is None:
            parts.append(_missing(CSV_FILES["km_at_risk"][0]))
    parts.append(f"<h3>{horizon:g}-day mortality</h3>")
    mort = ctx.est.get("mortality_28d") if isinstance(ctx.est.get("mortality_28d"), Mapping) else None
    if mort:
        has_km = any(f"km_{s}_{g}" in mort for s in ("cohort", "matched") for g in ("treated", "control"))
        header = ["Sample", "Treated, n", "Treated: died", "Control, n", "Control: died"]
        numeric = [False, True, True, True, True]
        if has_km:
            header += ["Treated: KM", "Control: KM"]
            numeric += [True, True]
        rows = []
        for sample, label in (("cohort", "Whole cohort"), ("matched", "Matched sample")):
            row = [label,
                   ctx.group_count(sample, "treated"),
                   Markup(_mort_cell(ctx, sample, "treated", mort.get(f"{sample}_treated"))),
                   ctx.group_count(sample, "control"),
                   Markup(_mort_cell(ctx, sample, "control", mort.get(f"{sample}_control")))]
            if has_km:
                for g in ("treated", "control"):
                    row.append(Markup(_mort_cell(ctx, sample, g, mort.get(f"km_{sample}_{g}"), key=f"km_{sample}_{g}")))
            rows.append(row)
        parts.append(html_table(header, rows, cls="data compact", numeric=numeric))
        note = f"Died: share of the group who died within {horizon:g} days of ICU admission."
        if has_km:
            note += " KM: the same from the Kaplan-Meier estimate (1 \u2212 survival), which accounts for censoring."
        parts.append(f'<p class="muted">{note}</p>')
        tests = []
        if p is not None:
            tests.append(f"matched sample p = {fmt_p(p)}")
        if p_cohort is not None:
            tests.append(f"whole cohort p = {fmt_p(p_cohort)}")
        if tests:
            parts.append(f"<p>Log-rank test: {'; '.join(tests)}.</p>")
    else:
        parts.append(_missing("estimates.json: mortality_28d"))
    return "".join(parts)


# Extra keys of the hazard-ratio dicts worth a word in the table (others go to "Other estimates").
_HR_NOTES = ("variance", "weighted", "estimand", "stabilized", "truncation_percentiles", "n_truncated",
             "effective_sample_size", "max_weight", "n_terms", "penalizer", "n_events", "events")


def _true_cell(value: float | None, what: str) -> Markup:
    if value is None:
        return Markup(DASH)
    return Markup(f'<strong>{fmt_num(value, 2)}</strong><br><span class="sub">{esc(what)}</span>')


def _note_text(ctx: _Ctx, key: str, k: str, v: Any) -> str:
    if k == "variance":
        return f"variance: {v}"
    if k == "truncation_percentiles" and isinstance(v, list) and len(v) == 2:
        return f"weights truncated at percentiles {v[0]} and {v[1]}"
    if k == "stabilized":
        return "stabilised weights" if v else "unstabilised weights"
    if k == "weighted":
        return "weighted by the matching weights" if v else ""
    if k == "n_terms":
        return f"{v} model terms"
    if k == "penalizer":
        return "" if not v else f"penalizer {v}"
    return f"{humanize(k).lower()}: {value_text(f'{key}.{k}', v, ctx.t)}"


def section_effects(ctx: _Ctx) -> str:
    parts = []
    analyses = [
        ("cox_matched", "Cox model, matched sample", "Matched Cox",
         "Hazard ratio of treated versus control in the matched sample"),
        ("cox_multivariable", "Cox model, whole cohort, adjusted for covariates", "Multivariable Cox, whole cohort",
         "Multivariable Cox model on the whole cohort, adjusted for the covariates"),
        ("iptw", "Cox model, inverse probability of treatment weighting", "IPTW Cox, whole cohort",
         "Cox model on the whole cohort weighted by the inverse probability of the treatment received"),
    ]
    rows, table_rows = [], []
    for key, label, short, note in analyses:
        hr, lo, hi, p = _hr_triplet(ctx, key)
        if key in ctx.not_estimable:
            tv, tw = true_effect(ctx, key)
            table_rows.append([label, Markup(f"{NOT_ESTIMABLE}\u2020"), DASH,
                               Markup(f'<span class="sub">{esc(note)}.</span>')] + ([_true_cell(tv, tw)] if ctx.truth else []))
            continue
        if hr is None and lo is None:
            continue
        tv, tw = true_effect(ctx, key)
        rows.append({"label": short, "hr": hr, "lo": lo, "hi": hi, "p": p, "true": tv})
        extra = ctx.est.get(key) if isinstance(ctx.est.get(key), Mapping) else {}
        notes = []
        for k in _HR_NOTES:
            if k in extra:
                ctx.consumed.add(f"{key}.{k}")
                t = _note_text(ctx, key, k, extra[k])
                if t:
                    notes.append(t)
        detail = note + (f" ({'; '.join(notes)})" if notes else "") + "."
        table_rows.append([label, fmt_ci(hr, lo, hi), fmt_p(p), Markup(f'<span class="sub">{esc(detail)}</span>')]
                          + ([_true_cell(tv, tw)] if ctx.truth else []))
    if rows:
        parts.append(_figure(effects_plot_svg(rows, treated_label=GROUP_LABELS[0].lower(),
                                              horizon_days=horizon_days(ctx.est)),
                             f"Hazard ratios of death within {horizon_days(ctx.est)} days, treated versus control, "
                             "with 95% confidence intervals "
                             "(log scale). Below 1: lower hazard with treatment."
                             + (" Orange ticks: the true effect each analysis estimates, known because the data are "
                                "synthetic." if any(r.get("true") for r in rows) else "")))
    if table_rows:
        header, numeric = ["Analysis", "HR (95% CI)", "p", "Notes"], [False, True, True, False]
        if ctx.truth:
            header, numeric = header + ["True HR (synthetic data)"], numeric + [False]
        parts.append(html_table(header, table_rows, cls="data", numeric=numeric))
        if any(k in ctx.not_estimable for k, *_ in analyses):
            parts.append(f'<p class="muted">\u2020 {NOT_ESTIMABLE.capitalize()}: the model has no events in one arm (or no '
                         "finite confidence interval), so it gives no hazard ratio and no p-value.</p>")
    else:
        parts.append(_missing("estimates.json: cox_matched / cox_multivariable / iptw"))
    alpha = ctx.get("alpha")
    rd = ctx.est.get("risk_difference")
    if isinstance(rd, Mapping) and "rd" in rd:
        val = ctx.get("risk_difference.rd")
        ci = ctx.get("risk_difference.ci95") or [None, None]
        rp = ctx.get("risk_difference.p")
        sample = ctx.get("risk_difference.sample") or "matched"
        var = ctx.get("risk_difference.variance")
        ctx.get("risk_difference.se")

        def pp(x: Any) -> str:
            f = finite(x)
            return DASH if f is None else fmt_num(100 * f, 1)

        ci_txt = f" (95% CI {pp(ci[0])} to {pp(ci[1])})" if isinstance(ci, list) and len(ci) == 2 else ""
        tv, tw = true_effect(ctx, "risk_difference")
        rd_note = ""
        if tv is not None:
            # rounded so that, times the matched focal stays, it gives no exact count (disclosure.coarse_share)
            n_true = (ctx.truth.get("matched") or {}).get("n_stays") if ctx.truth else None
            rv, step = coarse_share(tv, n_true, ctx.t)
            ci_txt += f"; {esc(tw)}: <strong>{pp(rv)} percentage points</strong>‡"
            rd_note = (f'<p class="muted">‡ The true risk difference is rounded to {fmt_num(100 * step, 1)} '
                       "percentage points, a step of at least " + (f"{ctx.t}" if ctx.t else "one")
                       + " of the stays it is a share of, so that with the sample's size it gives no exact count.</p>")
        what = (f"<p><strong>Risk difference</strong> of death by day {horizon_days(ctx.est)}, treated minus control, "
                f"{esc(sample)} sample: ")
        if _risk_difference_hidden(ctx, "matched" if sample == "matched" else "cohort"):
            parts.append(what + '<span class="muted">hidden</span>: a risk it is made of is hidden (a small count of '
                         "deaths or survivors, or a hidden group size), and the difference would give it back.</p>")
        else:
            parts.append(what + f"<strong>{pp(val)} percentage points</strong>{ci_txt}, p = {fmt_p(rp)}"
                         + (f"; variance {esc(var)}" if var else "") + ".</p>" + rd_note)
    if alpha is not None:
        parts.append(f'<p class="muted">Two-sided tests at the {fmt_num(alpha, 2)} level; confidence intervals are 95%.</p>')

    return "".join(parts)


def section_sensitivity(ctx: _Ctx) -> str:
    parts = []
    parts.append("<h3>Sensitivity to unmeasured confounding (E-value)</h3>")
    ev = ctx.est.get("evalue") if isinstance(ctx.est.get("evalue"), Mapping) else None
    if ev:
        point, lim = ctx.get("evalue.point"), ctx.get("evalue.ci_limit")
        parts.append(f"<p>E-value of the point estimate: <strong>{fmt_num(point, 2)}</strong>; of the confidence limit closer "
                     f"to 1: <strong>{fmt_num(lim, 2)}</strong>. An unmeasured confounder associated with both treatment and "
                     f"death by a risk ratio of {fmt_num(point, 2)} each, beyond the measured covariates, could explain the "
                     f"estimate away; one of {fmt_num(lim, 2)} could move the confidence interval to include 1"
                     + (" (an E-value of 1 means the interval already includes 1)" if finite(lim) == 1.0 else "") + ".</p>")
        rr = ctx.get("evalue.rr")
        common = ctx.get("evalue.common_outcome")
        risk = ctx.get("evalue.outcome_risk")
        thr = ctx.get("evalue.threshold")
        if rr is not None:
            how = ("the outcome is common" + (f" (risk {fmt_frac_pct(risk)}, above {fmt_frac_pct(thr, 0)})" if risk is not None and thr is not None else "")
                   + ", so the hazard ratio was converted to a risk ratio by VanderWeele's square-root approximation"
                   if common else "the outcome is rare, so the hazard ratio approximates the risk ratio")
            parts.append(f'<p class="muted">Computed from the matched hazard ratio as a risk ratio of {fmt_num(rr, 2)}: {how}.</p>')
    else:
        parts.append(_missing("estimates.json: evalue"))

    parts.append("<h3>Proportional-hazards diagnostics</h3>")
    ph = ctx.res.table("ph_test")
    phd = ctx.est.get("ph_test") if isinstance(ctx.est.get("ph_test"), Mapping) else {}
    method = ctx.get("ph_test.method") if phd else None
    if ph is None:
        parts.append(_missing(CSV_FILES["ph_test"][0]))
    else:
        pv = pd.to_numeric(ph["p"], errors="coerce")
        n_flag = int((pv < 0.05).sum())
        parts.append("<p>Test of the proportional-hazards assumption on scaled Schoenfeld residuals"
                     + (f" ({esc(method)})" if method else "") + ", per model and term. A small p-value (below 0.05, in "
                     "red) suggests the hazard ratio changes over follow-up; the hazard ratio is then an average over the "
                     f"follow-up. {n_flag} of {len(ph)} tests are below 0.05.</p>")
        g1, g2 = ctx.get("ph_test.global_p"), ctx.get("ph_test.global_p_multivariable")
        ctx.get("ph_test.time_transform")
        if g1 is not None or g2 is not None:
            parts.append("<p>Global test: " + "; ".join(
                t for t in ((f"matched model p = {fmt_p(g1)}" if g1 is not None else ""),
                            (f"multivariable model p = {fmt_p(g2)}" if g2 is not None else "")) if t) + ".</p>")
        # Long models: show the treatment and global rows, and any flagged term; count the rest.
        key_terms = ph["term"].astype(str).str.lower().isin(["treated", "treatment", "exposure", "global"])
        keep = key_terms | (pv < 0.05)
        shown = ph[keep] if len(ph) > 12 else ph
        parts.append('<div class="scroll">' + ph_table_html(shown) + "</div>")
        if len(shown) < len(ph):
            parts.append(f'<p class="muted">{len(ph) - len(shown)} further covariate terms, all with p \u2265 0.05, are not '
                         "listed.</p>")
    return "".join(parts)


def _cox_terms_html(ctx: _Ctx) -> str:
    parts = []
    parts.append("<h3>Multivariable Cox model: all terms</h3>")
    cox = ctx.res.table("cox_multivariable")
    if cox is None:
        parts.append(_missing(CSV_FILES["cox_multivariable"][0]))
    else:
        exposure_terms = [t for t in cox["term"].astype(str) if t.lower() in {"treated", "treatment", "exposure"}]
        parts.append('<div class="scroll">' + cox_terms_table_html(cox, ctx.labels, exposure_terms) + "</div>")
    return "".join(parts)





def section_subgroups(ctx: _Ctx) -> str:
    sg = ctx.res.table("subgroups")
    ctx.get("subgroups")  # the same records as subgroups.csv
    skipped = ctx.get("subgroups_skipped")
    note = ""
    if isinstance(skipped, list) and skipped:
        note = ('<p class="muted">Subgroups not analysed (too few stays or events in a level): '
                + esc(", ".join(str(s if not isinstance(s, Mapping) else s.get("subgroup", s)) for s in skipped)) + ".</p>")
    if sg is None:
        return _missing(CSV_FILES["subgroups"][0]) + note
    if sg.empty:
        return '<p class="muted">No subgroups were configured for this study.</p>' + note
    hr, lo, hi, _p = _hr_triplet(ctx, "cox_matched")
    overall = {"label": "Overall (matched Cox)", "hr": hr, "lo": lo, "hi": hi} if hr is not None else None
    totals: dict[str, Any] = {"n_treated": ctx.n_group("matched", "treated"), "n_control": ctx.n_group("matched", "control")}
    mort = ctx.est.get("mortality_28d") if isinstance(ctx.est.get("mortality_28d"), Mapping) else {}
    deaths = [finite(mort.get(f"matched_{g}")) for g in ("treated", "control")]
    sizes = [ctx.n_group("matched", g) for g in ("treated", "control")]
    if None not in deaths and None not in sizes:
        totals["events"] = sum(round(f * n) for f, n in zip(deaths, sizes))  # type: ignore[operator]
    ok = [is_estimable(r.hr, r.ci_low, r.ci_high) for r in sg.itertuples(index=False)]
    footnote = ("" if all(ok) else
                f" \u2020 {NOT_ESTIMABLE.capitalize()}: a level with no events in one arm has no hazard ratio, and its "
                "subgroup no interaction p-value (the interaction model is not identified either).")
    return (
        "<p>Hazard ratios of treated versus control within subgroups. The interaction p-value tests whether the hazard "
        "ratio differs between the levels of a subgroup; with several subgroups, some small p-values are expected by chance.</p>"
        + _figure(forest_plot_svg(sg, ctx.t, overall=overall, labels=ctx.labels, treated_label=GROUP_LABELS[0].lower(),
                                  totals=totals,
                                  hidden_totals=[c for c, g in (("n_treated", "treated"), ("n_control", "control"))
                                                 if ctx.group_hidden("matched", g)]),
                  "Subgroup hazard ratios with 95% confidence intervals (log scale); squares: subgroup estimates, diamond: "
                  "overall estimate. " + _suppression_note(ctx) + footnote)
        + note
    )


def section_other(ctx: _Ctx) -> str:
    leaves = flatten(ctx.est)
    rest = [(k, v) for k, v in leaves
            if k not in KNOWN_ESTIMATES and k not in ctx.consumed and not any(k.startswith(c + ".") for c in ctx.consumed)]
    if not rest:
        return '<p class="muted">estimates.json holds no further estimates.</p>'
    return ("<p>Further values reported in <code>estimates.json</code>. Values whose key names a count are subject to the "
            "small-count rule.</p>" + key_value_table_html(rest, ctx.t))


def _data_checks_html(data: Mapping, threshold: int | None) -> str:
    """The load-time data checks (icu_cohort.checks): every warning, or how many tables passed.
    Warnings are shown without their example keys and with small counts hidden."""
    warnings = [shareable_warning(w, threshold) for w in data.get("warnings") or [] if isinstance(w, str)]
    checked = data.get("load_checks") or []
    out = ["<h3>Data checks at load time</h3>"]
    if warnings:
        out.append(f'<p class="warn">{len(warnings)} warning(s) while the data were loaded (the data loaded as '
                   "shipped; nothing was dropped):</p><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
    if checked:
        out.append(f'<p class="muted">{len(checked)} table(s) checked when converted (keys unique, ages and dates '
                   "possible, stays of non-negative length)" + ("" if warnings else ": no warnings") + ".</p>")
    elif not warnings:
        out.append('<p class="muted">No load-time check report for this data source.</p>')
    return "".join(out)


def _validated_on_html(targets) -> str:
    """The releases the study is validated on (icu_cohort.validation)."""
    out = ["<h3>Validated on</h3>"]
    if not targets:
        return "".join(out) + ('<p class="muted">This study is not among those icu-cohort\'s test suite validates '
                               "on a MIMIC-IV release.</p>")
    rows = [[Markup(f"<code>{esc(t.get('target'))}</code>"), str(t.get("release")), str(t.get("data")),
             str(t.get("check"))] for t in targets]  # html_table escapes plain cells
    return "".join(out) + html_table(["Target", "Release", "Data", "What is checked"], rows, cls="data",
                                     numeric=[False, False, False, False])


def section_supplement(ctx: _Ctx) -> str:
    """Tables behind the main text: the attrition steps, missing values, balance per
    covariate, the propensity model's coefficients, the multivariable Cox model's terms."""
    return "".join([
        "<h3>Attrition steps</h3>", _attrition_table_html(ctx),
        "<h3>Missing covariate values</h3>", _missingness_html(ctx),
        "<h3>Balance diagnostics</h3>", _balance_table_html(ctx),
        _ps_coefficients_html(ctx),
        _cox_terms_html(ctx),
    ])


def section_provenance(ctx: _Ctx) -> str:
    prov = ctx.prov
    parts = [_run_html(ctx), "<h3>Study configuration</h3>",
             '<p class="muted">The study file as loaded (comments dropped). On screen the box scrolls; printed, it is '
             "complete.</p>",
             f'<pre class="config">{esc(_yaml(ctx.study))}</pre>']
    opts = ctx.get("analysis")
    if isinstance(opts, Mapping):
        parts.append("<h3>Analysis options as run</h3>")
        parts.append('<p class="muted">The analysis section with every default filled in, as reported by the analysis '
                     "stage.</p>")
        parts.append(f'<pre class="config">{esc(_yaml(opts))}</pre>')
    data = prov.get("data") or {}
    parts.append("<h3>Data files</h3>")
    tables = data.get("tables") or []
    if tables:
        rows = [[Markup(f"<code>{esc(t.get('file'))}</code>"), _bytes(t.get("size_bytes")), esc(t.get("mtime") or DASH),
                 Markup(f'<code class="hash">{esc(t.get("sha256"))}</code>') if t.get("sha256") else DASH] for t in tables]
        parts.append('<div class="scroll">' + html_table(["File", "Size", "Modified", "SHA-256"], rows, cls="data",
                                                         numeric=[False, True, False, False]) + "</div>")
        if data.get("total_bytes"):
            parts.append(f'<p class="muted">Total: {_bytes(data.get("total_bytes"))} in {len(tables)} files.</p>')
    else:
        parts.append('<p class="muted">No data manifest was given.</p>')
    parts.append(_data_checks_html(data, ctx.t))
    parts.append(_validated_on_html(prov.get("validated_on")))
    git = prov.get("git") or {}
    if git.get("describe"):
        parts.append(f'<p class="muted">Repository state: <code>{esc(git.get("describe"))}</code>.</p>')
    return "".join(parts)


SECTION_RENDERERS: dict[str, Callable[[_Ctx], str]] = {
    "summary": section_summary,
    "methods": section_methods,
    "cohort": section_cohort,
    "table1": section_table1,
    "matching": section_matching,
    "balance": section_balance,
    "survival": section_survival,
    "effects": section_effects,
    "design": section_design,
    "subgroups": section_subgroups,
    "sensitivity": section_sensitivity,
    "definition": section_definition,
    "supplement": section_supplement,
    "other": section_other,
    "provenance": section_provenance,
}


def section_renderer(sid: str) -> Callable[[_Ctx], str]:
    """The function that renders section ``sid``: from :data:`SECTION_RENDERERS`, else the
    ``section(ctx)`` function of the module ``icu_cohort.report.<sid>`` (so a section in its
    own module, e.g. ``report/design.py``, joins the report by one line in :data:`SECTIONS`).
    The function receives the report context (``ctx.est``, ``ctx.study``, ``ctx.res``,
    ``ctx.t``, ``ctx.count``...) and returns the section's HTML body."""
    if sid in SECTION_RENDERERS:
        return SECTION_RENDERERS[sid]
    import importlib

    try:
        module = importlib.import_module(f"{__package__}.{sid}")
    except ModuleNotFoundError as err:
        raise KeyError(f"report section {sid!r}: no renderer in SECTION_RENDERERS and no module "
                       f"{__package__}.{sid} ({err})") from None
    fn = getattr(module, "section", None)
    if not callable(fn):
        raise KeyError(f"report section {sid!r}: {module.__name__} has no section(ctx) function")
    return fn


# ----------------------------------------------------------------------------- page


def render_report(
    results_dir: Path,
    study: dict,
    provenance: dict,
    small_count_threshold: int | None = 11,
) -> str:
    """The study report as one self-contained HTML string (same inputs: same bytes)."""
    if small_count_threshold is not None and int(small_count_threshold) < 1:
        raise ValueError("small_count_threshold must be a positive integer or None")
    threshold = None if small_count_threshold is None else int(small_count_threshold)
    res = load_results(Path(results_dir))
    study = dict(study or {})
    provenance = dict(provenance or {})
    ctx = _Ctx(res, study, provenance, threshold)
    data_info = provenance.get("data") or {}
    # planted truth only for the generator's own data folder (never for MIMIC-IV, whatever lies beside it)
    ctx.synthetic = synthetic_source(data_info.get("source"), data_info.get("kind"))
    if ctx.synthetic:
        mort = res.estimates.get("mortality_28d") if isinstance(res.estimates.get("mortality_28d"), Mapping) else {}
        ctx.truth = synthetic_truth(Path(results_dir), data_info.get("source"), res.estimates.get("estimand"),
                                    finite(mort.get("horizon_days")) or 28.0, kind=data_info.get("kind"))

    bodies = []
    for sid, _title in SECTIONS:
        if sid == "other":
            continue
        bodies.append((sid, section_renderer(sid)(ctx)))
    # "other" last of the estimate sections: it lists what the others did not render.
    other = section_other(ctx)
    bodies.insert([s for s, _ in SECTIONS].index("other"), ("other", other))
    body_by_id = dict(bodies)

    title = study.get("title") or ctx.get("study") or study.get("name") or "Study report"
    name = study.get("name") or ctx.get("study") or Path(results_dir).name
    data = provenance.get("data") or {}
    git = provenance.get("git") or {}
    meta = [f"Study <code>{esc(name)}</code>", f"run {_date(provenance.get('generated_at'))}"]
    if data.get("kind") == "synthetic":
        meta.append("synthetic data")
    elif data.get("kind") == "mimic":
        meta.append("MIMIC-IV" + (f" v{esc(data.get('mimic_version'))}" if data.get("mimic_version") else ""))
    if git.get("commit"):
        meta.append(f"commit <code>{esc(str(git['commit'])[:10])}</code>" + (" (modified)" if git.get("dirty") else ""))

    banners = []
    if data.get("kind") == "synthetic":
        banners.append('<p class="warn"><strong>Synthetic data.</strong> These results come from the synthetic MIMIC-IV '
                       "data set that icu-cohort generates for testing, not from patients. They say nothing about the "
                       "clinical question.</p>")
    if res.missing:
        banners.append('<p class="warn">Some inputs of this report were not produced by the run: '
                       + ", ".join(f"<code>{esc(m)}</code>" for m in res.missing) + ". Their sections say so.</p>")
    privacy = (f"Counts from 1 to {threshold - 1} are shown as &lt;{threshold}, following the small-cell rule of the "
               "MIMIC-IV data use agreement; the report holds no identifiers and no row-level data."
               if threshold else
               '<strong>Small-count suppression is switched off</strong> (small_count_threshold: null): do not share '
               "this report outside the credentialed team.")

    nums = _section_numbers()
    toc = "".join(f'<li><a href="#{sid}"><span class="num">{nums[sid]}</span>{esc(t)}</a></li>'
                  for sid, t in SECTIONS if sid not in APPENDIX)
    toc_app = "".join(f'<li><a href="#{sid}"><span class="num">{nums[sid]}</span>{esc(t)}</a></li>'
                      for sid, t in SECTIONS if sid in APPENDIX)
    main_html = "".join(_section(1 if i == 0 else nums[sid], sid, t, body_by_id[sid])
                        for i, (sid, t) in enumerate(SECTIONS) if sid not in APPENDIX)
    app_html = "".join(_section(nums[sid], sid, t, body_by_id[sid], appendix=True)
                       for sid, t in SECTIONS if sid in APPENDIX)
    sections_html = main_html + (f'<div class="appendix-head" id="appendix"><h2>Appendix</h2><p class="muted">Study '
                                 "definition, supplementary tables and provenance; each part opens on a click and "
                                 "prints in full.</p></div>\n" + app_html if app_html else "")
    try:
        from importlib.metadata import version

        pkg_version = version("icu-cohort")
    except Exception:  # pragma: no cover
        pkg_version = "unknown"

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="icu-cohort">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">\n"
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header><div class="kicker">icu-cohort study report</div><h1>{esc(title)}</h1>'
        f'<p class="meta">{" · ".join(meta)}</p>{"".join(banners)}</header>\n'
        f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{toc}</ol>'
        f'<strong>Appendix</strong><ol class="app">{toc_app}</ol></nav>\n'
        f"{sections_html}"
        f'<footer><p>{privacy}</p><p>Generated by icu-cohort {esc(pkg_version)}. This file is self-contained: it loads '
        "nothing from the network and can be sent as it is.</p></footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def write_report(
    results_dir: Path,
    study: dict,
    provenance: dict,
    out_html: Path,
    small_count_threshold: int | None = 11,
) -> None:
    """Render the report and write it atomically to ``out_html`` (temp file + rename)."""
    html = render_report(results_dir, study, provenance, small_count_threshold)
    with atomic_path(out_html) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)


__all__ = ["render_report", "write_report", "SECTIONS", "covariate_labels", "exposure_label"]
