"""Command line: ``icu-cohort synth --patients N --seed S --out DIR [options]``.

Writes a synthetic MIMIC-IV v2.2 folder (``DIR/hosp``, ``DIR/icu``, ``DIR/ground_truth.json``,
``DIR/ground_truth_stays.csv``); see ``synthetic_data/README.md`` for the data-generating
process. Progress goes to stderr; a one-line JSON summary goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icu-cohort", description="icu-cohort command line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write a synthetic MIMIC-IV v2.2 folder with a planted effect",
                       description="Write DIR/hosp/*.csv.gz, DIR/icu/*.csv.gz (PhysioNet's names, headers and "
                                   "formats), DIR/ground_truth.json and DIR/ground_truth_stays.csv. Same seed "
                                   "and patients give byte-identical files.")
    s.add_argument("--patients", type=_positive_int, required=True,
                   help="rows of patients.csv.gz (about 0.25 ICU stays per patient)")
    s.add_argument("--seed", type=int, required=True, help="random seed")
    s.add_argument("--out", required=True,
                   help="output folder (an existing one is replaced only if icu-cohort synth wrote it or it is empty)")
    s.add_argument("--dgp", choices=("baseline", "timevarying"), default="baseline",
                   help="data-generating process: baseline (default; treatment decided at ICU admission) or "
                        "timevarying (treatment starts over time, changes later measurements, missing labs; "
                        "synthetic_data/params_timevarying.yaml)")
    s.add_argument("--treated-share", type=_share, default=None,
                   help="target share of IV magnesium sulfate among eligible stays (default 0.90; with "
                        "--dgp timevarying: share ever treated in the ICU, default 0.60)")
    s.add_argument("--log-hr", type=float, default=None,
                   help="planted conditional log hazard ratio of treatment (default ln 0.6 = -0.511)")
    s.add_argument("--chart-rows-per-stay", type=float, default=None,
                   help="mean chartevents rows per ICU stay, filler included (default 4000)")
    s.add_argument("--params", default=None, metavar="FILE",
                   help="YAML file overriding synthetic_data/params.yaml (same nesting)")
    s.add_argument("--threads", type=_positive_int, default=2, help="compression threads (default 2)")
    s.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "synth":
        from .synth import generate

        try:
            summary = generate(args.out, args.patients, args.seed, params_file=args.params,
                               progress=_progress(args.quiet), dgp=args.dgp,
                               threads=args.threads, treated_share=args.treated_share, log_hr=args.log_hr,
                               chart_rows_per_stay=args.chart_rows_per_stay)
        except (KeyError, ValueError, FileNotFoundError, FileExistsError) as exc:
            print(f"icu-cohort synth: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({k: summary[k] for k in ("out_dir", "dgp", "patients", "admissions", "icu_stays",
                                                  "eligible_stays", "seconds")}))
        return 0
    return 2


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
