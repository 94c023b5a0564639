"""Formatting helpers shared by every section: small-count suppression, numbers, escaping.

Small-count rule (PhysioNet's data use agreement): a count from 1 to ``threshold - 1`` is
never printed; it is shown as ``"<threshold"`` (``"<11"`` by default). Zero is shown, and so
is every count from ``threshold`` up. ``threshold=None`` switches suppression off. The rule,
with the complementary suppression that keeps a hidden count from being recovered by
subtraction, is owned by :mod:`.disclosure`; this module only formats.
"""

from __future__ import annotations

import html
import math
from typing import Any

from .disclosure import HIDDEN_TEXT
from .disclosure import is_small as _disclosure_is_small

DASH = "\u2013"  # en dash: "not available"
MINUS = "\u2212"

# Lower-case words shown in capitals in labels derived from column names.
ABBREVIATIONS = frozenset(
    "gcs map mbp sofa bmi saps sapsii apsiii oasis lods bun wbc inr pt ptt aptt crrt rrt aki ckd copd chf "
    "hr rr sbp dbp spo2 pao2 fio2 icu los sirs cci ph iv ards mi tbi icd icd9 icd10 ps iptw att atc".split()
)


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` becomes an empty string)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def is_missing(value: Any) -> bool:
    """``None``, NaN, ``pd.NA`` and ``NaT`` are missing; anything else is a value."""
    if value is None:
        return True
    if isinstance(value, float):  # numpy.float64 is a float too
        return math.isnan(value)
    try:
        import numpy as np
        import pandas as pd

        if isinstance(value, np.floating):
            return bool(np.isnan(value))
        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - both are dependencies
        return False


def as_int(value: Any) -> int | None:
    """An integer count from an int/float/str, or ``None`` when missing or not a number."""
    if is_missing(value):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return int(round(f))


def is_small(n: Any, threshold: int | None) -> bool:
    """True when ``n`` is a count that must be suppressed (1 .. threshold-1); any number-like
    value (float, numeric string) is read as a count (see :func:`.disclosure.is_small`)."""
    return _disclosure_is_small(as_int(n), threshold)


def fmt_int(n: Any) -> str:
    k = as_int(n)
    return DASH if k is None else f"{k:,}"


def shown_count(n: Any, hidden: bool, threshold: int | None) -> str:
    """A count cell after the disclosure decision: ``<11`` for a hidden small count,
    ``hidden`` for a count hidden so that another cannot be derived, else the number."""
    k = as_int(n)
    if k is None:
        return DASH
    if hidden and threshold is not None:
        return f"<{threshold}" if is_small(k, threshold) else HIDDEN_TEXT
    return f"{k:,}"


def suppress_count(n: Any, threshold: int | None = 11) -> str:
    """Format a count for display, hiding counts 1..threshold-1 as ``"<threshold"``.

    >>> suppress_count(7), suppress_count(0), suppress_count(11), suppress_count(12345)
    ('<11', '0', '11', '12,345')
    >>> suppress_count(7, None)
    '7'
    """
    k = as_int(n)
    if k is None:
        return DASH
    if is_small(k, threshold):
        return f"<{threshold}"
    return f"{k:,}"


def fmt_num(x: Any, digits: int | None = None) -> str:
    """A measurement: digits chosen from its magnitude unless given."""
    if is_missing(x):
        return DASH
    try:
        f = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if math.isnan(f):
        return DASH
    if digits is None:
        a = abs(f)
        digits = 0 if a >= 100 else 1 if a >= 10 else 2
    s = f"{f:,.{digits}f}"
    if s.startswith("-") and not s.strip("-0.,"):
        s = s[1:]  # no "-0.000"
    return s.replace("-", MINUS)


def fmt_p(p: Any) -> str:
    """A p-value: ``<0.001`` below one in a thousand, else two significant digits."""
    if is_missing(p):
        return DASH
    try:
        f = float(p)
    except (TypeError, ValueError):
        return esc(p)
    if math.isnan(f):
        return DASH
    if f < 0.001:
        return "<0.001"
    if f >= 0.995:
        return "1.00"
    if f >= 0.1:
        return f"{f:.2f}"
    if f >= 0.01:
        return f"{f:.3f}"
    return f"{f:.3f}"


def fmt_ratio(x: Any) -> str:
    """A hazard ratio or similar: two decimals."""
    return fmt_num(x, 2)


def is_estimable(hr: Any, lo: Any, hi: Any) -> bool:
    """The one rule for showing a model's ratio estimate: a finite positive estimate with a
    finite positive confidence interval around it. The analysis leaves the estimate empty
    where an arm has no events (the Cox model is then not identified); a fit that diverged
    towards 0 or infinity gives an infinite or zero limit. Either way no estimate, and no
    test built on that model (interaction p-value, p-value), is shown."""
    vals = []
    for v in (hr, lo, hi):
        if is_missing(v):
            return False
        try:
            f = float(v)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(f) or f <= 0:
            return False
        vals.append(f)
    return vals[1] <= vals[0] <= vals[2]


NOT_ESTIMABLE = "not estimable"


def fmt_ci(hr: Any, lo: Any, hi: Any) -> str:
    """``0.83 (0.71–0.97)``; ``–`` when the estimate is missing."""
    if is_missing(hr):
        return DASH
    if is_missing(lo) or is_missing(hi):
        return fmt_ratio(hr)
    return f"{fmt_ratio(hr)} ({fmt_ratio(lo)}{DASH}{fmt_ratio(hi)})"


def fmt_frac_pct(frac: Any, digits: int = 1) -> str:
    """A fraction in [0, 1] shown as a percentage."""
    if is_missing(frac):
        return DASH
    try:
        return f"{100 * float(frac):.{digits}f}%"
    except (TypeError, ValueError):
        return esc(frac)


def fmt_smd(x: Any) -> str:
    if is_missing(x):
        return DASH
    return fmt_num(x, 3)


def humanize(name: Any) -> str:
    """``heart_rate_mean`` -> ``Heart rate mean`` (labels for keys without one)."""
    s = str(name).replace("_", " ").strip()
    return s[:1].upper() + s[1:] if s else s


def label_for(name: Any, labels: Any = None) -> str:
    """Display label of a covariate or subgroup: the configured label, else a tidy name.

    ``heart_rate`` -> ``Heart rate``; words that are clinical abbreviations are capitalised
    (``gcs`` -> ``GCS``, ``sofa_score`` -> ``SOFA score``).
    """
    key = str(name)
    if labels and key in labels:
        return str(labels[key])
    words = key.replace("_", " ").split()
    if not words:
        return key
    words = [w.upper() if w.lower() in ABBREVIATIONS else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def count_with_pct(count: Any, denom: Any, threshold: int | None, digits: int = 1) -> str:
    """``123 (45.6%)``, or just ``<11`` when the count is small (the percentage would reveal it)."""
    k = as_int(count)
    if k is None:
        return DASH
    if is_small(k, threshold):
        return f"<{threshold}"
    d = as_int(denom)
    if not d:
        return f"{k:,}"
    return f"{k:,} ({100 * k / d:.{digits}f}%)"
