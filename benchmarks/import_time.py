"""Time `import dca_pipeline.definitions` in a fresh interpreter (target < 2 s) and show which heavy libraries
(Great Expectations, pandas, scipy, PyTorch) it loads: none of them should be, they are imported by the steps that use them.

Two figures: with Python's bytecode cache (how `make` runs everything: one untimed import writes the .pyc files
first), and compiling every module from source, as each process does when PYTHONDONTWRITEBYTECODE is set and no
.pyc exists (simulated with an empty PYTHONPYCACHEPREFIX).

Run: PYTHONPATH=. python benchmarks/import_time.py [--repeat 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HEAVY = ("great_expectations", "pandas", "scipy", "torch")
PROBE = (
    f"HEAVY = {HEAVY!r}; "
    "import time; t = time.perf_counter(); import dca_pipeline.definitions; "
    "import sys; print(time.perf_counter() - t, ','.join(m for m in HEAVY if m in sys.modules) or '-')"
)


def _times(env: dict[str, str], repeat: int) -> tuple[list[float], set[str]]:
    times, loaded = [], set()
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", PROBE], check=True, capture_output=True, text=True,
                             env=env).stdout.split()
        times.append(float(out[-2]))
        loaded |= set(out[-1].split(",")) - {"-"}
    return times, loaded


def _line(label: str, times: list[float]) -> str:
    return (f"import dca_pipeline.definitions, {label}: median {statistics.median(times):.2f} s, "
            f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} fresh interpreters (target < 2 s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cached = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    _times(cached, 1)  # writes the .pyc files the timed runs read
    times, loaded = _times(cached, args.repeat)
    print(_line("with the bytecode cache", times))
    with tempfile.TemporaryDirectory() as empty:
        source, _ = _times({**cached, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}, args.repeat)
    print(_line("compiling from source (no .pyc: PYTHONDONTWRITEBYTECODE and no cache)", source))
    print(f"heavy libraries loaded by the import: {', '.join(sorted(loaded)) or 'none'} (checked: {', '.join(HEAVY)})")


if __name__ == "__main__":
    main()
