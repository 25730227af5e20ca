"""Time `import dca_pipeline.definitions` in a fresh interpreter (target < 2 s) and show which heavy libraries
(Great Expectations, pandas, scipy, PyTorch) it loads: none of them should be, they are imported by the steps that use them.

Run: PYTHONPATH=. python benchmarks/import_time.py [--repeat 5]
"""
import argparse
import statistics
import subprocess
import sys

HEAVY = ("great_expectations", "pandas", "scipy", "torch")
PROBE = (
    f"HEAVY = {HEAVY!r}; "
    "import time; t = time.perf_counter(); import dca_pipeline.definitions; "
    "import sys; print(time.perf_counter() - t, ','.join(m for m in HEAVY if m in sys.modules) or '-')"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times, loaded = [], set()
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout.split()
        times.append(float(out[-2]))
        loaded |= set(out[-1].split(",")) - {"-"}
    print(f"import dca_pipeline.definitions: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {args.repeat} fresh interpreters (target < 2 s)")
    print(f"heavy libraries loaded by the import: {', '.join(sorted(loaded)) or 'none'} (checked: {', '.join(HEAVY)})")


if __name__ == "__main__":
    main()
