"""Time `import dca_pipeline.definitions` in a fresh interpreter (target < 2 s) and show that GX is not loaded.

Run: PYTHONPATH=. python benchmarks/import_time.py [--repeat 5]
"""
import argparse
import statistics
import subprocess
import sys

PROBE = (
    "import time; t = time.perf_counter(); import dca_pipeline.definitions; "
    "import sys; print(time.perf_counter() - t, 'great_expectations' in sys.modules)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times, gx_loaded = [], False
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout.split()
        times.append(float(out[-2]))
        gx_loaded |= out[-1] == "True"
    print(f"import dca_pipeline.definitions: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {args.repeat} fresh interpreters (target < 2 s)")
    print(f"great_expectations imported at load: {gx_loaded}")


if __name__ == "__main__":
    main()
