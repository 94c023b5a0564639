"""The report in a real browser: headless Chromium renders it with no console error and
no network request, and a full-page screenshot is saved.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-terminated JSON messages), so only the standard library is needed.
Every request the page makes is recorded from ``Network.requestWillBeSent``; the only URL
allowed is the report's own ``file://`` URL.

Skips with a reason where Chromium is absent (CI's ``.ci/run`` installs Debian's package).
Screenshots go to pytest's ``tmp_path`` and, if ``ICU_COHORT_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from test_report_fixtures import make_results
except ImportError:  # pragma: no cover - tests collected as a package
    from .test_report_fixtures import make_results  # type: ignore[no-redef]

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]


def find_chromium() -> str | None:
    env = os.environ.get("ICU_COHORT_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDP:
    """A minimal DevTools-protocol client over Chromium's remote-debugging pipe."""

    def __init__(self, binary: str, user_data_dir: str, width: int = 1280, height: int = 900) -> None:
        to_child_r, self._w = os.pipe()  # we write -> chromium reads on fd 3
        self._r, from_child_w = os.pipe()  # chromium writes on fd 4 -> we read

        def _fds() -> None:  # runs in the child between fork and exec
            # Move both ends above 4 first, so neither dup2 clobbers the other.
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)  # os.dup2 makes the copies inheritable
            os.dup2(b, 4)

        args = [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={user_data_dir}",
                f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_fds, close_fds=True, pass_fds=(3, 4))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        want = self._id
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == want:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            ev = self._next(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._next(deadline))
        except TimeoutError:
            pass

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from Chromium in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
                raise RuntimeError(f"Chromium closed the pipe: {err}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.stderr:
            self.proc.stderr.close()


def inspect_page(html_path: Path, screenshot: Path, pdf: Path | None = None, width: int = 1280) -> dict[str, Any]:
    """Load ``html_path`` in headless Chromium; return requests, console errors, DOM facts."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium")
    url = html_path.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="icu-cohort-chromium-") as profile:
        cdp = CDP(binary, profile, width=width)
        try:
            targets = cdp.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            sid = cdp.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                cdp.send(f"{domain}.enable", session=sid)
            cdp.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sid)
            cdp.send("Page.navigate", {"url": url}, session=sid)
            cdp.wait_event("Page.loadEventFired", timeout=30)
            cdp.drain(0.5)  # late requests / console messages
            facts = cdp.send("Runtime.evaluate", {"returnByValue": True, "expression": """(() => {
                // the phone layout of the flow diagram is display:none on a wide screen
                const svgs = [...document.querySelectorAll('svg')].filter(s => getComputedStyle(s).display !== 'none');
                return {
                  title: document.title,
                  sections: [...document.querySelectorAll('main > section')].map(s => s.id),
                  svgs: svgs.length,
                  emptySvgs: svgs.filter(s => { const r = s.getBoundingClientRect(); return r.width < 50 || r.height < 30; }).length,
                  tables: document.querySelectorAll('table').length,
                  height: document.documentElement.scrollHeight,
                  width: document.documentElement.scrollWidth,
                  font: getComputedStyle(document.body).fontFamily,
                };
            })()"""}, session=sid)["result"]["value"]
            metrics = cdp.send("Page.getLayoutMetrics", session=sid)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot = cdp.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1},
            }, session=sid, timeout=60)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            pages = None
            if pdf is not None:
                out = cdp.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True},
                               session=sid, timeout=60)
                data = base64.b64decode(out["data"])
                pdf.write_bytes(data)
                pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
            cdp.drain(0.2)
            events = cdp.events
        finally:
            cdp.close()
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    errors = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            errors.append(json.dumps(p.get("exceptionDetails", {}))[:500])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            errors.append(json.dumps(p.get("args", []))[:500])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            errors.append(p["entry"].get("text", "")[:500])
        elif m == "Network.loadingFailed":
            errors.append(f"loading failed: {p.get('errorText')}")
    return {"url": url, "requests": requests, "errors": errors, "facts": facts, "pdf_pages": pages}


def open_page(binary: str, profile: str, html_path: Path, width: int, mobile: bool = False,
              media: str | None = None) -> tuple[CDP, str]:
    """A Chromium page showing ``html_path`` at ``width`` CSS px (``mobile``: as a phone)."""
    cdp = CDP(binary, profile, width=width)
    targets = cdp.send("Target.getTargets")["targetInfos"]
    page = next(t for t in targets if t["type"] == "page")
    sid = cdp.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
    cdp.send("Page.enable", session=sid)
    cdp.send("Runtime.enable", session=sid)
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": width, "height": 844 if mobile else 900, "deviceScaleFactor": 1, "mobile": mobile}, session=sid)
    if media:
        cdp.send("Emulation.setEmulatedMedia", {"media": media}, session=sid)
    cdp.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=sid)
    cdp.wait_event("Page.loadEventFired", timeout=30)
    return cdp, sid


def evaluate(cdp: CDP, sid: str, expression: str) -> Any:
    return cdp.send("Runtime.evaluate", {"returnByValue": True, "expression": expression}, session=sid)["result"].get("value")


def pdf_pages(binary: str, html_path: Path, out: Path, before: str | None = None) -> int:
    """Print ``html_path`` to an A4 PDF as Chromium does (the page's own @page size) and count
    its pages; ``before``: a script run first (e.g. removing the appendix)."""
    with tempfile.TemporaryDirectory(prefix="icu-cohort-chromium-") as profile:
        cdp, sid = open_page(binary, profile, html_path, 1280)
        try:
            if before:
                evaluate(cdp, sid, before)
            data = base64.b64decode(cdp.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True},
                                             session=sid, timeout=90)["data"])
        finally:
            cdp.close()
    out.write_bytes(data)
    assert data[:5] == b"%PDF-"
    return data.count(b"/Type /Page") - data.count(b"/Type /Pages")


#: Removes the appendix: what is left is the main part of the report.
WITHOUT_APPENDIX = "document.querySelectorAll('section.appendix, .appendix-head').forEach(e => e.remove()); true"

#: Elements wider than the viewport, outside a box that scrolls on its own.
OVERFLOW_JS = """(() => {
  const W = document.documentElement.clientWidth; const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1 && !el.closest('.scroll, pre')) bad.push(el.tagName + '.' + el.className);
  }
  const scrollers = [...document.querySelectorAll('.scroll')].filter(e => e.scrollWidth > e.clientWidth + 1).length;
  const figs = [...document.querySelectorAll('figure svg')].map(s => s.getBoundingClientRect().width);
  return {viewport: W, page: document.documentElement.scrollWidth, bad: bad.slice(0, 20), scrollers, figs};
})()"""

#: What a reader sees of the counts: texts the figures mark as counts, table cells, and
#: sentences that name a count ("n = 7", "7 stays").
COUNT_TEXTS_JS = """(() => {
  const svg = [...document.querySelectorAll('svg text.count, svg .count text')].map(t => t.textContent.trim());
  const cells = [...document.querySelectorAll('td')].filter(td => !td.closest('#provenance, #other, .coef'))
      .map(td => td.innerText.trim());
  return {svg, cells, text: document.body.innerText};
})()"""

SMALL = r"(?:[1-9]|10)"


def small_counts_seen(seen: dict) -> list[str]:
    """Counts 1..10 a reader could read off the page (see COUNT_TEXTS_JS)."""
    import re

    lone = re.compile(rf"(?<![\d.,<]){SMALL}(?![\d.,%])")
    bad = [f"figure: {t}" for t in seen["svg"] if lone.search(t)]
    bad += [f"cell: {t}" for t in seen["cells"] if re.fullmatch(rf"{SMALL}(?:\s*\([\d.]+%\))?", t)]
    # ("1 to 10 stays", "1\u201310 stays" describe the rule, not a count)
    for pat in (rf"\bn\s*=\s*{SMALL}(?![\d.,])",
                rf"(?<![\d.,<\u2013-])(?<!to ){SMALL}\s+(?:ICU\s+)?(?:stays?|deaths?|patients?|events?)\b"):
        bad += [f"text: {m.group(0)}" for m in re.finditer(pat, seen["text"])]
    return bad


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    return binary


def test_report_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    from icu_cohort.report import SECTIONS, write_report

    results, study, prov = make_results(tmp_path / "results" / "sae_fixture")
    html_path = tmp_path / "report.html"
    write_report(results, study, prov, html_path)
    shot = tmp_path / "report.png"
    pdf = tmp_path / "report.pdf"
    info = inspect_page(html_path, shot, pdf=pdf)

    target = os.environ.get("ICU_COHORT_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / "report.png")
        shutil.copyfile(pdf, Path(target) / "report.pdf")

    # Exactly one request: the file itself. Nothing else, and nothing off this machine.
    assert info["requests"] == [info["url"]], info["requests"]
    assert info["errors"] == [], info["errors"]
    facts = info["facts"]
    assert facts["sections"] == [sid for sid, _ in SECTIONS]
    assert facts["svgs"] >= 7 and facts["emptySvgs"] == 0, facts
    assert facts["tables"] >= 8
    assert facts["width"] <= 1280, "the page scrolls sideways at 1280 px"
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert info["pdf_pages"] is None or info["pdf_pages"] >= 4, info["pdf_pages"]


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of a real study's length: the project's SAE study file (its full cohort
    definition and code lists print in the appendix) over fixture results with 42 covariates."""
    import yaml

    from icu_cohort.report import write_report

    root = tmp_path_factory.mktemp("paper")
    results, _study, prov = make_results(root / "results" / "sae_mgso4", extra_covariates=30)
    study = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "studies" / "sae_mgso4.yaml").read_text())
    out = root / "report.html"
    write_report(results, study, prov, out)
    return out


def test_report_prints_within_the_page_budget(chromium: str, paper_report: Path, tmp_path: Path) -> None:
    """Printed on A4 (Chromium print-to-PDF): the main part in at most 12 pages, the whole
    report, appendix printed open, in at most 20."""
    full = pdf_pages(chromium, paper_report, tmp_path / "full.pdf")
    main = pdf_pages(chromium, paper_report, tmp_path / "main.pdf", before=WITHOUT_APPENDIX)
    print(f"A4 pages: main {main}, full {full}", file=sys.stderr)
    assert main <= 12, main
    assert full <= 20, full
    # the appendix is in the printed report (closed <details> print open): it adds pages
    assert full > main + 1, (main, full)


def test_report_fits_a_390px_phone(chromium: str, paper_report: Path, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="icu-cohort-chromium-") as profile:
        cdp, sid = open_page(chromium, profile, paper_report, 390, mobile=True)
        try:
            facts = evaluate(cdp, sid, OVERFLOW_JS)
        finally:
            cdp.close()
    assert facts["viewport"] == 390, facts
    assert facts["page"] <= 390, f"the page scrolls sideways at 390 px: {facts}"
    assert facts["bad"] == [], facts
    assert facts["scrollers"] >= 1, "no wide table scrolls in its own box (Table 1 should)"
    assert facts["figs"] and max(facts["figs"]) <= 390 - 2 * 14 + 1, facts  # figures scale to the column


def test_no_small_count_is_visible(chromium: str, tmp_path: Path) -> None:
    """Every count a reader sees (figure labels, table cells, sentences) is 0 or >= 11; with
    suppression off the same page shows small counts, so the check can fail."""
    from icu_cohort.report import write_report

    results, study, prov = make_results(tmp_path / "results" / "sae_fixture")
    seen = {}
    for threshold in (11, None):
        path = tmp_path / f"report-{threshold}.html"
        write_report(results, study, prov, path, small_count_threshold=threshold)
        with tempfile.TemporaryDirectory(prefix="icu-cohort-chromium-") as profile:
            cdp, sid = open_page(chromium, profile, path, 1280)
            try:
                seen[threshold] = evaluate(cdp, sid, COUNT_TEXTS_JS)
            finally:
                cdp.close()
    assert len(seen[11]["svg"]) >= 20, seen[11]["svg"]  # flow, forest, at-risk, histogram labels
    assert small_counts_seen(seen[11]) == []
    assert len(small_counts_seen(seen[None])) >= 5


if __name__ == "__main__":  # manual: python tests/test_report_browser.py REPORT.html OUT.png [OUT.pdf]
    res = inspect_page(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
    print(json.dumps({k: v for k, v in res.items()}, indent=2))
