"""SVG plumbing: deterministic matplotlib output made fit for inlining, and a tiny builder.

Matplotlib figures are saved as SVG with text kept as text (``svg.fonttype='none'``), no
date, and a fixed hash salt, so the same inputs give byte-identical markup. The markup is
then cleaned for inlining into one HTML page:

* the XML declaration, DOCTYPE (which names a remote DTD) and RDF metadata are dropped;
* the global ``<style>`` (``*{...}``, which would style the whole page) is dropped; the
  report's stylesheet carries the same rules scoped to ``svg.mpl``;
* ids are renamed with a per-figure prefix (several figures share one page's id space),
  and ids nobody refers to are removed;
* the hard-coded font family is removed, so text inherits the page's system font stack.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from typing import Iterator

from .format import esc

# Okabe & Ito (2008) colour-blind-safe palette.
TREATED = "#0072B2"  # blue
CONTROL = "#D55E00"  # vermillion
BEFORE = "#9A9A9A"  # grey: "before matching"
AFTER = "#0072B2"  # blue: "after matching"
ACCENT = "#009E73"  # bluish green
INK = "#1F2328"
MUTED = "#5A6270"
GRID = "#E3E6EA"

_RC = {
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": "#6B7280",
    "axes.labelcolor": INK,
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": "#4B5563",
    "ytick.color": "#4B5563",
    "text.color": INK,
    "legend.frameon": False,
    "figure.dpi": 72,
    "path.simplify": False,
}


@contextmanager
def mpl_figure_context(key: str) -> Iterator[object]:
    """Matplotlib with the report's style and a hash salt fixed per figure (deterministic ids)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rc = dict(_RC)
    rc["svg.hashsalt"] = f"icu-cohort-report-{key}"
    with matplotlib.rc_context(rc):
        yield plt


_ID_RE = re.compile(r'\sid="([^"]+)"')
_REF_RE = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def clean_svg(svg: str, key: str, title: str | None = None, desc: str | None = None) -> str:
    """Make an SVG document (matplotlib's or ours) safe and unique for inlining."""
    s = svg
    s = re.sub(r"<\?xml[^>]*\?>\s*", "", s)
    s = re.sub(r"<!DOCTYPE[^>]*>\s*", "", s, flags=re.S)
    s = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)
    s = re.sub(r"<!--.*?-->\s*", "", s, flags=re.S)
    s = re.sub(r'<style type="text/css">\*\{[^}]*\}</style>\s*', "", s)
    s = re.sub(r"<defs>\s*</defs>\s*", "", s)
    s = s.replace("font-family: 'DejaVu Sans', sans-serif; ", "")
    s = re.sub(r";?\s*font-family: '?DejaVu Sans'?(, sans-serif)?", "", s)
    referenced = {m.group(2) for m in _REF_RE.finditer(s)}
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", key)

    def _id(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("count"):  # an artist drawn with gid="count...": a count of stays
            return ' class="count"'
        return f' id="{prefix}-{name}"' if name in referenced else ""

    s = _ID_RE.sub(_id, s)
    s = _REF_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", s)

    # Responsive: keep the viewBox, let CSS size it; remember the natural width as max-width.
    m = re.search(r"<svg\b[^>]*>", s)
    if m:
        tag = m.group(0)
        width = re.search(r'\swidth="([\d.]+)(pt|px)?"', tag)
        new = re.sub(r'\s(width|height)="[^"]*"', "", tag)
        new = re.sub(r'\sversion="[^"]*"', "", new)
        new = re.sub(r'\sxmlns:xlink="[^"]*"', "", new) if "xlink:" not in s.replace(tag, "") else new
        style = ""
        if width:
            w = float(width.group(1)) * (4 / 3 if width.group(2) == "pt" else 1)
            style = f' style="max-width:{w:.0f}px"'
        label = f' role="img" aria-labelledby="{prefix}-title"' if title else ' role="img"'
        new = new.replace("<svg", f'<svg class="fig-svg mpl"{style}{label}', 1)
        inner = ""
        if title:
            inner += f'<title id="{prefix}-title">{esc(title)}</title>'
        if desc:
            inner += f"<desc>{esc(desc)}</desc>"
        s = s.replace(tag, new + inner, 1)
    return s.strip() + "\n"


def savefig_svg(fig: object, key: str, title: str | None = None, desc: str | None = None) -> str:
    """Save a matplotlib figure as cleaned, deterministic inline SVG and close it."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.08)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return clean_svg(buf.getvalue(), key, title=title, desc=desc)


class SvgBuilder:
    """Hand-built SVG: elements appended as strings, coordinates rounded for stable output."""

    def __init__(self, width: float, height: float, key: str, title: str, css_class: str = "fig-svg") -> None:
        self.width = width
        self.height = height
        self.key = key
        self.title = title
        self.css_class = css_class
        self.parts: list[str] = []

    @staticmethod
    def n(x: float) -> str:
        s = f"{x:.1f}"
        return s[:-2] if s.endswith(".0") else s

    def rect(self, x: float, y: float, w: float, h: float, cls: str = "", rx: float = 0, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
        c = f' class="{cls}"' if cls else ""
        r = f' rx="{self.n(rx)}"' if rx else ""
        self.parts.append(
            f'<rect x="{self.n(x)}" y="{self.n(y)}" width="{self.n(w)}" height="{self.n(h)}"{r}{c}{extra}/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str = "", **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
        c = f' class="{cls}"' if cls else ""
        self.parts.append(
            f'<line x1="{self.n(x1)}" y1="{self.n(y1)}" x2="{self.n(x2)}" y2="{self.n(y2)}"{c}{extra}/>'
        )

    def path(self, d: str, cls: str = "", **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f'<path d="{d}"{c}{extra}/>')

    def text(self, x: float, y: float, text: str, cls: str = "", anchor: str = "start", **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
        c = f' class="{cls}"' if cls else ""
        a = "" if anchor == "start" else f' text-anchor="{anchor}"'
        self.parts.append(f'<text x="{self.n(x)}" y="{self.n(y)}"{a}{c}{extra}>{esc(text)}</text>')

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def render(self) -> str:
        prefix = re.sub(r"[^A-Za-z0-9_-]", "-", self.key)
        head = (
            f'<svg class="{self.css_class}" viewBox="0 0 {self.n(self.width)} {self.n(self.height)}" '
            f'style="max-width:{self.n(self.width)}px" role="img" aria-labelledby="{prefix}-title" '
            f'xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{prefix}-title">{esc(self.title)}</title>'
        )
        body = "\n".join(self.parts)
        body = body.replace('url(#', f"url(#{prefix}-").replace(' id="', f' id="{prefix}-')
        return head + "\n" + body + "\n</svg>\n"
