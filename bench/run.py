"""``make bench`` (``python -m bench.run``): runs every benchmark, each beside
its baseline, prints its table and writes bench/results/<name>.json.

Options: --seconds N (or BENCH_SECONDS; default 15) per measured run;
--only NAME to run one benchmark. Exits 1 when a benchmark misses its bar.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from types import ModuleType

from bench import (
    bench_attribution,
    bench_clicks,
    bench_console,
    bench_ingest,
    bench_metrics,
    bench_mixed,
    bench_postbacks,
    bench_reports,
)
from libs.logging import configure_logging

# Later issues append their modules; each has NAME, add_arguments(parser), async run(args) -> dict.
BENCHMARKS: list[ModuleType] = [
    bench_clicks, bench_ingest, bench_attribution, bench_postbacks, bench_metrics, bench_reports, bench_mixed,
    bench_console,
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "15")))
    parser.add_argument("--only", choices=[b.NAME for b in BENCHMARKS], action="append")
    for bench in BENCHMARKS:
        bench.add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging("bench", "warning")
    failed = []
    for bench in BENCHMARKS:
        if args.only and bench.NAME not in args.only:
            continue
        print(f"== {bench.NAME}", flush=True)
        result = asyncio.run(bench.run(args))
        print(result["report"], flush=True)
        print(f"(written to bench/results/{bench.NAME}.json)\n", flush=True)
        if not result["passed"]:
            failed.append(bench.NAME)
    if failed:
        print(f"below the bar: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
