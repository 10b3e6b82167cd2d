"""`python -m bench [--quick] [--out FILE] [NAME ...]`: run the named benchmarks (default: every
bench/*.py module), each in a process of its own, on SQLite and (where GATEWAY_TEST_DATABASE_URL
or GATEWAY_BENCH_DATABASE_URL names a server) on PostgreSQL; print the table and write the
rows to bench/out/results.json. `--quick` runs tiny sizes (the smoke test; numbers mean
nothing)."""

from __future__ import annotations

import argparse
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

import bench
from bench._harness import OUT, context_from_env, run_one, table, write_results


def available() -> list[str]:
    modules = pkgutil.iter_modules(bench.__path__)
    return sorted(m.name for m in modules if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT})")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    context = context_from_env(args.quick)
    if context.postgresql is None:
        print("PostgreSQL skipped: set GATEWAY_TEST_DATABASE_URL to a server")
    rows: list[dict[str, Any]] = []
    failed = []
    started = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        print(f"== bench {name}", flush=True)
        try:
            found = run_one(name, context)
        except RuntimeError as error:
            print(error, flush=True)
            failed.append(name)
            continue
        rows.extend(found)
        print(table(found), flush=True)
        print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
    path = write_results(rows, args.out)
    print(f"\nall benchmarks in {time.perf_counter() - started:.0f} s; rows in {path}")
    print(table(rows))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
