"""The report's stylesheet (inlined into the page; system fonts only, print-friendly)."""

CSS = r"""
:root {
  --ink: #1f2328; --muted: #5a6270; --rule: #d0d7de; --soft: #f6f8fa; --accent: #0072b2;
  --treated: #0072b2; --control: #d55e00; --warn-bg: #fff8e6; --warn: #8a5a00;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
          "Liberation Sans", Arial, sans-serif;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink); font-family: var(--font);
       font-size: 15px; line-height: 1.5; font-variant-numeric: tabular-nums; }
main { max-width: 1060px; margin: 0 auto; padding: 32px 40px 64px; }
h1 { font-size: 28px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 0 0 14px; padding-bottom: 6px; border-bottom: 2px solid var(--ink); }
h2 .num { color: var(--muted); font-weight: 600; margin-right: 8px; }
h3 { font-size: 16px; margin: 26px 0 8px; }
p { margin: 8px 0; max-width: 78ch; }
a { color: var(--accent); }
code, pre { font-family: var(--mono); font-size: 12.5px; }
pre.config { max-height: 460px; overflow: auto; }
dl.defs.compact { font-size: 13px; gap: 2px 18px; }
.coef { max-height: 420px; overflow: auto; }
pre { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px;
      overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); font-weight: 600; }
.meta { color: var(--muted); font-size: 13.5px; margin: 4px 0 18px; }
.question { border-left: 4px solid var(--accent); background: #f2f7fb; padding: 12px 16px; margin: 18px 0;
            font-size: 16px; max-width: none; }
.cards { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; margin: 18px 0 8px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px; background: #fff; }
.card .label { font-size: 12.5px; color: var(--muted); }
.card .value { font-size: 22px; font-weight: 700; margin-top: 2px; line-height: 1.25; white-space: nowrap; }
.card .sub { font-size: 12.5px; color: var(--muted); }
.card .true { color: #a34700; font-weight: 600; }
nav.toc { margin: 20px 0 8px; font-size: 14px; }
nav.toc ol { columns: 2; column-gap: 32px; margin: 6px 0 0; padding-left: 22px; }
nav.toc li { margin: 2px 0; }
section { margin-top: 44px; }
figure { margin: 16px 0 22px; }
figure .fig-svg { display: block; width: 100%; height: auto; margin: 0 auto; }
figure .fig-svg.flow-narrow { display: none; }
@media (max-width: 600px) {
  figure .fig-svg.flow-wide { display: none; }
  figure .fig-svg.flow-narrow { display: block; }
}
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; max-width: 90ch; }
svg.mpl * { stroke-linejoin: round; stroke-linecap: butt; }
svg text { font-family: var(--font); }
.legend-key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 2px; vertical-align: baseline; }
table.data { border-collapse: collapse; width: 100%; margin: 10px 0 18px; font-size: 13.5px; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: 6px; }
table.data th, table.data td { padding: 5px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid #eaeef2; }
table.data thead th { border-bottom: 1.5px solid var(--ink); font-weight: 650; vertical-align: bottom; background: #fff; }
table.data thead th.grp { text-align: center; border-bottom: 1px solid var(--rule); }
table.data tbody tr:nth-child(even) td, table.data tbody tr:nth-child(even) th { background: #fafbfc; }
table.data .num { text-align: right; white-space: nowrap; }
table.data tbody th { font-weight: 500; }
table.compact { width: auto; min-width: 50%; }
table.kv td:first-child { font-family: var(--mono); font-size: 12.5px; }
table.table1 tr.var th { font-weight: 600; }
table.table1 tr.level th { padding-left: 26px; font-weight: 400; }
table.table1 tr.missing th { color: var(--muted); font-style: italic; }
table.table1 td:nth-child(4), table.table1 th.num:nth-child(3) { border-right: 1px solid var(--rule); }
.sub { color: var(--muted); font-size: 12px; font-weight: 400; }
.muted { color: var(--muted); }
.flag { color: #b42318; font-weight: 600; }
.note { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; font-size: 13.5px; margin: 12px 0; max-width: none; }
.warn { background: var(--warn-bg); border: 1px solid #f0d28a; color: #5c3d00; border-radius: 6px; padding: 10px 14px; font-size: 13.5px; margin: 12px 0; }
.missing-input { color: var(--warn); font-style: italic; }
dl.defs { display: grid; grid-template-columns: minmax(160px, max-content) 1fr; gap: 4px 18px; margin: 10px 0 16px; font-size: 14px; }
dl.defs dt { color: var(--muted); font-weight: 600; }
dl.defs dd { margin: 0; }
dl.defs dd ul { margin: 0; padding-left: 18px; }
dl.defs dd table.data { margin: 0 0 4px; font-size: 13px; }
.two-col { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
.split2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0 24px; align-items: start; }
.split2 table.compact { width: 100%; min-width: 0; }
.methods-text { border-left: 4px solid var(--rule); padding: 2px 0 2px 16px; }
.methods-text p { max-width: 86ch; }
nav.toc ol { list-style: none; }
nav.toc ol.app { padding-left: 22px; }
nav.toc .num { color: var(--muted); margin-right: 6px; font-variant-numeric: tabular-nums; }
.appendix-head { margin-top: 56px; border-top: 3px double var(--ink); padding-top: 10px; }
.appendix-head h2 { border: 0; margin-bottom: 4px; }
section.appendix { margin-top: 14px; }
section.appendix details > summary { cursor: pointer; list-style-position: outside; }
section.appendix details > summary h2 { display: inline; border: 0; font-size: 18px; }
section.appendix details > summary::marker { color: var(--muted); }
section.appendix details[open] > summary { border-bottom: 2px solid var(--ink); padding-bottom: 6px; margin-bottom: 12px; }
.details-body { padding-top: 4px; }
main, section, figure, .details-body { min-width: 0; }
svg { max-width: 100%; }
figure svg.fig-svg, figure .fig-svg { max-width: 100% !important; height: auto; }
td, th { overflow-wrap: anywhere; }
table.data .num, table.data thead th { overflow-wrap: normal; }
footer { margin-top: 56px; padding-top: 12px; border-top: 1px solid var(--rule); color: var(--muted); font-size: 12.5px; }
@media (max-width: 760px) {
  main { padding: 18px 14px 40px; }
  body { font-size: 14px; }
  h1 { font-size: 22px; }
  .two-col { grid-template-columns: 1fr; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .card .value { font-size: 18px; white-space: normal; }
  nav.toc ol { columns: 1; }
  dl.defs { grid-template-columns: 1fr; gap: 0 0; }
  dl.defs dd { margin-bottom: 6px; }
  table.compact { min-width: 0; }
  pre.config { max-height: 320px; }
  .split2 { grid-template-columns: minmax(0, 1fr); }
}
@media (max-width: 420px) {
  .cards { grid-template-columns: minmax(0, 1fr); }
}
@media print {
  @page { size: A4; margin: 12mm 11mm 14mm; }
  body { font-size: 9.5pt; line-height: 1.38; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 18pt; }
  h2 { font-size: 13pt; margin-bottom: 8px; }
  h3 { font-size: 10.5pt; margin: 14px 0 6px; }
  p { margin: 5px 0; }
  section { margin-top: 22px; }
  section.first { margin-top: 8px; }
  .appendix-head { break-before: page; margin-top: 0; }
  figure { margin: 8px 0 12px; }
  figure, table.compact, .cards, .card, .note, .warn { break-inside: avoid; }
  .split2 table.compact { break-inside: auto; }
  table.data { font-size: 8pt; margin: 6px 0 10px; }
  table.data th, table.data td { padding: 2px 6px; }
  table.data thead { display: table-header-group; }
  table.data tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  nav.toc { display: none; }
  .scroll, .coef, pre.config { overflow: visible; max-height: none; }
  pre.config { font-size: 6.5pt; line-height: 1.2; padding: 6px 8px; columns: 2; column-gap: 14px; break-inside: auto; }
  .split2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  code.hash { font-size: 6pt; }
  dl.defs { font-size: 8.5pt; gap: 1px 12px; margin: 4px 0 8px; }
  figure .fig-svg { max-width: 100% !important; }
  figure .fig-svg.flow { max-height: 215mm; }
  figure .fig-svg.flow-narrow { display: none !important; }
  figure .fig-svg.flow-wide { display: block !important; }
  figure svg.mpl { max-height: 150mm; }
  table.table1 td .sub { display: none; }
  table.table1 td br { display: none; }
  .cards { grid-template-columns: repeat(3, 1fr); gap: 6px; }
  .card { padding: 6px 9px; }
  .card .value { font-size: 13pt; }
  /* the appendix prints in full: closed <details> show their content on paper */
  details > summary { list-style: none; }
  details > summary::marker, details > summary::-webkit-details-marker { display: none; content: ""; }
  details:not([open])::details-content, details::details-content { content-visibility: visible; display: block; }
  section.appendix details > summary h2 { display: block; border-bottom: 2px solid var(--ink); font-size: 13pt; }
}
"""
