"""Check a MIMIC-IV download before using it (``icu-cohort check --mimic-dir DIR``), converting nothing.

:func:`check_download` puts together what the pipeline checks at start-up and what a user
wants to know about a fresh download, in seconds:

1. **Files and headers**: every table the concepts and studies read
   (:func:`icu_cohort.pipeline.required_tables`) is present with every expected column --
   :func:`icu_cohort.loader.check_sources`, the pipeline's own start-up check.
2. **Release**: :func:`icu_cohort.loader.detect_version` (folder name, PhysioNet's files,
   ``anchor_year_group`` values) and whether icu-cohort reads that release.
3. **Checksums**: when the folder holds PhysioNet's ``SHA256SUMS.txt``, the SHA-256 of every
   file it lists that is present is compared with it (a truncated or corrupt download shows
   here); listed files that are absent are reported, as are needed tables it does not list.

Nothing is written anywhere.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from icu_cohort import loader
from icu_cohort.mimic_tables import SUPPORTED_VERSIONS, table

#: PhysioNet's checksum file in the root of a download.
SHA256SUMS = "SHA256SUMS.txt"


def read_sha256sums(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from a ``sha256sum``-format file (``<hex>  <path>`` lines;
    a ``*`` before the path, binary mode, is allowed). A malformed line raises
    :class:`~icu_cohort.loader.MimicInputError` naming the file and the line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise loader.MimicInputError(f"{path}: line {number} is not '<sha256> <file>': {line[:80]!r}")
        sums[parts[1].strip().lstrip("*").removeprefix("./")] = digest
    return sums


def verify_checksums(mimic_dir: Path, threads: int = 2,
                     progress: Callable[[str], None] | None = None) -> dict | None:
    """Compare every file ``SHA256SUMS.txt`` lists (and that is present) with its checksum.

    Returns ``None`` without that file, else ``{"file", "listed", "checked", "ok",
    "mismatched": [...], "absent": [...], "seconds"}``. ``threads`` files are hashed at a time.
    """
    mimic_dir = Path(mimic_dir)
    sums_path = mimic_dir / SHA256SUMS
    if not sums_path.is_file():
        return None
    start = time.perf_counter()
    sums = read_sha256sums(sums_path)
    present = [rel for rel in sorted(sums) if (mimic_dir / rel).is_file()]
    absent = [rel for rel in sorted(sums) if rel not in present]
    present.sort(key=lambda rel: -(mimic_dir / rel).stat().st_size)  # largest first: best packing

    def one(rel: str) -> tuple[str, bool]:
        ok = loader.sha256(mimic_dir / rel) == sums[rel]
        if progress and not ok:
            progress(f"checksum MISMATCH: {rel}")
        return rel, ok

    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        results = dict(pool.map(one, present))
    mismatched = sorted(rel for rel, ok in results.items() if not ok)
    return {"file": str(sums_path), "listed": len(sums), "checked": len(results),
            "ok": len(results) - len(mismatched), "mismatched": mismatched, "absent": absent,
            "seconds": round(time.perf_counter() - start, 2)}


def check_download(mimic_dir: Path, allow_missing: Iterable[str] = (), checksums: bool = True,
                   threads: int = 2, progress: Callable[[str], None] | None = None) -> dict:
    """Every check of a MIMIC-IV folder (module docstring); never raises for what it finds.

    Returns ``{"mimic_dir", "ok", "problems": [...], "notes": [...], "tables": [{"table",
    "file", "size_bytes" | "absent"}], "version": detect_version(...), "checksums": ... | None,
    "seconds"}``. ``ok`` is False when a needed file or column is missing, a checksum does not
    match, or the release is one icu-cohort does not read.
    """
    from icu_cohort.pipeline import required_tables

    start = time.perf_counter()
    say = progress or (lambda msg: None)
    mimic_dir = Path(mimic_dir)
    problems: list[str] = []
    notes: list[str] = []
    keys = required_tables()
    allowed = set(allow_missing)
    tables = []
    say(f"files and headers of the {len(keys)} tables icu-cohort reads")
    try:
        found = loader.check_sources(mimic_dir, keys, allowed)
    except loader.MimicInputError as exc:
        problems.append(str(exc))
        found = None
    if found is not None:
        for key in sorted(found):
            path = found[key]
            entry = {"table": table(key).qualified, "file": table(key).relpath}
            if path is None:
                entry["absent"] = True
                notes.append(f"{table(key).relpath} is absent (allowed: an empty table is used)")
            else:
                entry["size_bytes"] = path.stat().st_size
            tables.append(entry)
    version = {"version": None, "evidence": [], "conflicts": [], "notes": []}
    if mimic_dir.is_dir():
        say("release")
        version = loader.detect_version(mimic_dir)
        v = version["version"]
        if v is None:
            notes.append("the release could not be determined (no folder name, DOI or data evidence)")
        elif v != "3.x" and v not in SUPPORTED_VERSIONS:
            problems.append(f"MIMIC-IV {v}: icu-cohort reads {', '.join(SUPPORTED_VERSIONS)}")
        notes += version["conflicts"] + version["notes"]
    sums = None
    if checksums and mimic_dir.is_dir():
        say(f"checksums against {SHA256SUMS}")
        try:
            sums = verify_checksums(mimic_dir, threads, progress)
        except loader.MimicInputError as exc:
            problems.append(str(exc))
        if sums is None and (mimic_dir / SHA256SUMS).is_file() is False:
            notes.append(f"no {SHA256SUMS} in {mimic_dir}: checksums not verified (PhysioNet's download has it)")
        elif sums is not None:
            for rel in sums["mismatched"]:
                problems.append(f"{mimic_dir / rel}: SHA-256 differs from {SHA256SUMS} (a truncated or corrupt "
                                "download? Download the file again from PhysioNet)")
            needed_absent = [rel for rel in sums["absent"] if rel in {table(k).relpath for k in keys}]
            for rel in needed_absent:
                if any(table(k).relpath == rel for k in allowed):
                    continue
                notes.append(f"{rel} is listed in {SHA256SUMS} but absent")
            listed = set(read_sha256sums(mimic_dir / SHA256SUMS))
            unlisted = sorted(table(k).relpath for k in keys if table(k).relpath not in listed
                              and (mimic_dir / table(k).relpath).is_file())
            if unlisted:
                notes.append(f"not listed in {SHA256SUMS}, so not verified: {', '.join(unlisted)}")
    return {"mimic_dir": str(mimic_dir), "ok": not problems, "problems": problems, "notes": notes,
            "tables": tables, "version": version, "checksums": sums,
            "seconds": round(time.perf_counter() - start, 2)}


__all__ = ["SHA256SUMS", "read_sha256sums", "verify_checksums", "check_download"]
