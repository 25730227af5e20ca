"""`dca` command line: `dca backtest --start YYYY-MM-DD --end YYYY-MM-DD [--out report.html] [--ab A.yaml B.yaml]`, `dca demo`,
`dca restore --from DIR [--home DIR]`, `dca encrypt-ledger`."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import polars as pl


def _backtest(args: argparse.Namespace) -> int:
    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.backtest.report import metrics_rows, write_tearsheet
    from dca_pipeline.config import load_settings
    from dca_pipeline.paths import dca_home

    from dca_pipeline.backtest.sweep import override, run_sweep, sweep_settings
    from dca_pipeline.config import ConfigError

    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    if end < start:
        print(f"--end {end} is before --start {start}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
        for item in args.set or []:
            key, _, value = item.partition("=")
            settings = override(settings, key, value)
        if args.sweep:
            grid = {k: v.split(",") for k, _, v in (item.partition("=") for item in args.sweep)}
            variants = sweep_settings(settings, grid)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.ab:
        from dca_pipeline.backtest.ab import load_flag_set, run_ab

        try:
            flag_a, flag_b = (load_flag_set(Path(p)) for p in args.ab)
            table, _ = run_ab(settings, flag_a, flag_b, start, end, progress=lambda m: print(f"  · {m}", flush=True))
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        print(f"A = {args.ab[0]}, B = {args.ab[1]}")
        with pl.Config(tbl_rows=10, tbl_cols=20, fmt_str_lengths=60, tbl_width_chars=200):
            print(table)
        return 0
    if args.sweep:
        table, _ = run_sweep(variants, start, end, progress=lambda m: print(f"  · {m}", flush=True))
        with pl.Config(tbl_rows=100, tbl_cols=20, fmt_str_lengths=60, tbl_width_chars=200):
            print(table)
        return 0
    result = run_backtest(settings, start, end, progress=lambda m: print(f"  · {m}", flush=True), with_regime=not args.no_regime)
    parts = None
    if args.attribution:
        from dca_pipeline.backtest.attribution import attribution

        print("  · attribution: re-running without costs", flush=True)
        parts = attribution(settings, start, end, result)
    out = Path(args.out) if args.out else dca_home() / "reports" / f"backtest_{start}_{end}.html"
    write_tearsheet(result, out, f"dca_pipeline backtest {start} → {end}", parts)
    last = result.benchmarks.row(-1, named=True)
    print(f"\nBacktest {start} → {end}")
    for k, v in metrics_rows(result.metrics):
        print(f"  {k:<18} {v}")
    print(f"  {'btc_dca_value':<18} {float(last['btc_dca_brl']):,.2f}")
    print(f"  {'equal_weight_dca':<18} {float(last['equal_weight_dca_brl']):,.2f}")
    for k, v in (parts or {}).items():
        print(f"  {k:<26} {v:,.2f}")
    print(f"tearsheet: {out}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from dca_pipeline.governance.backup import BackupError, restore
    from dca_pipeline.paths import dca_home
    from dca_pipeline.storage.duck import LedgerKeyError

    home = Path(args.home).resolve() if args.home else dca_home()
    try:
        target = restore(Path(args.source), home, force=args.force)
    except (BackupError, LedgerKeyError) as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.source} -> {target} (manifest verified, audit chain intact)")
    return 0


def _encrypt_ledger(args: argparse.Namespace) -> int:
    from dca_pipeline.governance.encrypt_ledger import encrypt_warehouse
    from dca_pipeline.secrets import SecretError
    from dca_pipeline.paths import warehouse_path

    try:
        path = encrypt_warehouse(Path(args.path) if args.path else warehouse_path())
    except SecretError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"encrypted {path} with DCA_LEDGER_KEY")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from dca_pipeline.demo import main as demo_main

    return demo_main(["--month", args.month])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dca", description="dca_pipeline command line")
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser("backtest", help="walk-forward backtest over the bundled history")
    bt.add_argument("--start", required=True)
    bt.add_argument("--end", required=True)
    bt.add_argument("--out", help="HTML tearsheet path (default: $DCA_HOME/reports/...)")
    bt.add_argument("--config", help="YAML configuration (default: $DCA_CONFIG or the packaged default)")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting, e.g. portfolio.objective=max_sharpe")
    bt.add_argument("--attribution", action="store_true", help="split the excess over BTC DCA into selection, weighting, costs")
    bt.add_argument("--no-regime", action="store_true", help="skip the monthly regime fits (faster)")
    bt.add_argument("--sweep", action="append", metavar="KEY=V1,V2", help="compare values side by side (repeatable: a grid)")
    bt.add_argument("--ab", nargs=2, metavar=("A.yaml", "B.yaml"), help="A/B: two flag sets (partial YAML) on the same data, with B - A")
    bt.set_defaults(func=_backtest)
    demo = sub.add_parser("demo", help="run one month through Dagster and print a summary")
    demo.add_argument("--month", default="2021-01")
    demo.set_defaults(func=_demo)
    rs = sub.add_parser("restore", help="restore a ledger backup (manifest verified) into $DCA_HOME or --home")
    rs.add_argument("--from", dest="source", required=True, help="backup directory ($DCA_HOME/backups/<timestamp>)")
    rs.add_argument("--home", help="target state directory (default: $DCA_HOME)")
    rs.add_argument("--force", action="store_true", help="overwrite an existing warehouse in the target home")
    rs.set_defaults(func=_restore)
    enc = sub.add_parser("encrypt-ledger", help="encrypt an existing plain warehouse with DCA_LEDGER_KEY")
    enc.add_argument("--path", help="warehouse file (default: $DCA_HOME/warehouse.duckdb)")
    enc.set_defaults(func=_encrypt_ledger)
    from dca_pipeline.secrets import install_redaction

    install_redaction()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
