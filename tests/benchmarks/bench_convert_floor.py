"""Benchmark: how fast chartevents could be converted on this machine, whatever the decompressor.

    python tests/benchmarks/bench_convert_floor.py --mimic-dir DIR [--rows 20000000] [--threads 2]
        [--work DIR]

Issue 8 asks for the conversion of a MIMIC-IV-sized download in at most 150 s on 2 cores and
names gzip decompression as the bottleneck. This script measures what a faster decompressor
could gain at most. It copies the first ``--rows`` rows of ``DIR/icu/chartevents.csv.gz`` to a
plain CSV and to a gzip file (ISA-L, level 2) in ``--work`` (not timed), then times on that slice:

* ``inflate``: ISA-L's inflate of the gzip slice alone, nothing parsed;
* ``pipeline``: :func:`icu_cohort.loader.convert_table` (the pipeline's conversion) of the gzip slice;
* ``duckdb_plain_to_parquet``: DuckDB's own multi-threaded CSV reader over the *already
  decompressed* slice, written to zstd Parquet with the documented types: what any decompressor,
  however fast, leaves to do;
* ``duckdb_plain_parse_only``: the same reader, every column parsed and nothing written.

Each step prints wall and CPU seconds and the seconds the whole table would take at that rate
(scaled to ``--full-rows``, default 362,388,000: the chartevents rows of the 364,000-patient
synthetic set, MIMIC-IV v3.1's volume). Progress goes to stderr; the last stdout line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def say(msg: str) -> None:
    print(f"[bench_convert_floor] {msg}", file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mimic-dir", type=Path, required=True, help="a MIMIC-IV-format folder (icu/chartevents.csv.gz)")
    ap.add_argument("--rows", type=int, default=20_000_000, help="rows of the slice")
    ap.add_argument("--full-rows", type=int, default=362_388_000, help="rows of the whole table, to scale to")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=REPO.parent / "bench-data" / "convert-floor")
    a = ap.parse_args(argv)

    sys.path.insert(0, str(REPO / "workflow" / "src"))
    import duckdb
    from isal import igzip

    from icu_cohort import loader
    from icu_cohort.mimic_tables import table

    src = a.mimic_dir / "icu" / "chartevents.csv.gz"
    if not src.is_file():
        raise SystemExit(f"{src}: not found; expected a MIMIC-IV-format folder with icu/chartevents.csv.gz")
    a.work.mkdir(parents=True, exist_ok=True)
    plain, gz = a.work / f"slice{a.rows}.csv", a.work / f"slice{a.rows}.csv.gz"
    if not gz.is_file():
        say(f"copying the first {a.rows:,} rows of {src} to {plain} and {gz} (not timed) ...")
        with igzip.open(src, "rb") as f, open(plain, "wb") as out:
            for i, line in enumerate(f):
                if i > a.rows:
                    break
                out.write(line)
        with open(plain, "rb") as f, igzip.open(gz, "wb", compresslevel=2) as out:
            while block := f.read(1 << 24):
                out.write(block)
    spec = table("icu/chartevents")
    scale = a.full_rows / a.rows
    columns = ", ".join(f"'{c}': '{t}'" for c, t in spec.columns)
    reader = f"read_csv('{plain}', header = true, columns = {{{columns}}})"

    def inflate() -> None:
        with open(gz, "rb") as raw, igzip.IGzipFile(fileobj=raw, mode="rb") as f:
            while f.read(32 << 20):
                pass

    def pipeline() -> None:
        loader.convert_table(gz, a.work / "pipeline.parquet", spec, threads=a.threads, memory_limit="1GB")

    def duckdb_query(sql: str):
        def run() -> None:
            con = duckdb.connect()
            con.execute(f"SET threads = {a.threads}")
            con.execute("SET preserve_insertion_order = true")
            con.execute(sql).fetchall()
            con.close()
        return run

    steps = {
        "inflate": inflate,
        "pipeline": pipeline,
        "duckdb_plain_to_parquet": duckdb_query(
            f"COPY (SELECT * FROM {reader}) TO '{a.work / 'duckdb.parquet'}' (FORMAT parquet, COMPRESSION zstd)"),
        "duckdb_plain_parse_only": duckdb_query(
            "SELECT count(*), " + ", ".join(f"max({c})" for c, _ in spec.columns) + f" FROM {reader}"),
    }
    result = {"rows": a.rows, "full_rows": a.full_rows, "threads": a.threads,
              "slice_plain_mb": round(plain.stat().st_size / 2**20, 1), "slice_gz_mb": round(gz.stat().st_size / 2**20, 1),
              "steps": {}}
    for name, run in steps.items():
        t0, c0 = time.perf_counter(), cpu_seconds()
        run()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        result["steps"][name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                 "full_table_wall_s": round(wall * scale, 1)}
        say(f"{name:26s} {wall:7.2f} s wall {cpu:7.2f} CPU-s  -> the whole table at this rate: {wall * scale:6.0f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
