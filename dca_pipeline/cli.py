"""`dca` command line: `dca backtest --start YYYY-MM-DD --end YYYY-MM-DD [--out report.html] [--png charts.png] [--ab A.yaml B.yaml]`,
`dca verdict [--survivorship] [--out verdict.md]`, `dca demo`, `dca restore --from DIR [--home DIR]`,
`dca encrypt-ledger`, `dca tax-report --year YYYY [--out DIR] [--excel-br]`."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import polars as pl


def _backtest(args: argparse.Namespace) -> int:
    from dca_pipeline.backtest.report import metrics_rows, tearsheet_extras, write_tearsheet
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
        _require_data_for(settings, start, end)
        if args.sweep:
            grid = {k: v.split(",") for k, _, v in (item.partition("=") for item in args.sweep)}
            variants = sweep_settings(settings, grid)
    except (ConfigError, *_range_errors()) as exc:
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
    try:
        result = _run_with_bar(settings, start, end, with_regime=not args.no_regime)
    except _range_errors() as exc:
        print(str(exc), file=sys.stderr)
        return 2
    parts = None
    if args.attribution:
        from dca_pipeline.backtest.attribution import attribution

        print("  · attribution: re-running without costs", flush=True)
        parts = attribution(settings, start, end, result)
    out = Path(args.out) if args.out else dca_home() / "reports" / f"backtest_{start}_{end}.html"
    png = Path(args.png) if args.png else out.with_suffix(".png")
    extras = tearsheet_extras(settings, start, end, survivorship=args.survivorship, progress=lambda m: print(f"  · {m}", flush=True),
                              run=_run_with_bar)
    write_tearsheet(result, out, f"dca_pipeline backtest {start} → {end}", parts, png_path=png, **extras.kwargs())
    last = result.benchmarks.row(-1, named=True)
    print(f"\nBacktest {start} → {end}")
    for k, v in metrics_rows(result.metrics):
        print(f"  {k:<18} {v}")
    print(f"  {'btc_dca_value':<18} {float(last['btc_dca_brl']):,.2f}")
    print(f"  {'equal_weight_dca':<18} {float(last['equal_weight_dca_brl']):,.2f}")
    for k, v in (parts or {}).items():
        print(f"  {k:<26} {v:,.2f}")
    print(f"tearsheet: {out}")
    print(f"tearsheet image: {png}")
    return 0


def _verdict(args: argparse.Namespace) -> int:
    """Backtest the verdict windows with the configuration as it stands, print and write the markdown report."""
    import hashlib

    from dca_pipeline.backtest.verdict import (
        VERDICT_WINDOWS, survivorship_markdown, survivorship_runs, verdict_report, window_verdict,
    )
    from dca_pipeline.config import ConfigError, DEFAULT_CONFIG_PATH, load_settings
    from dca_pipeline.governance.audit import config_fingerprint
    from dca_pipeline.paths import dca_home

    say = lambda m: print(f"  · {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        settings = load_settings(args.config)
        windows = VERDICT_WINDOWS if not args.window else tuple(
            ("window", date.fromisoformat(a), date.fromisoformat(b)) for a, b in (w.split(":") for w in args.window)
        )
        for _label, start, end in windows:
            _require_data_for(settings, start, end)
    except (ConfigError, ValueError, *_range_errors()) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    results, bounds = [], []
    for label, start, end in windows:
        w, _ = window_verdict(settings, label, start, end, best_coin_rerun=not args.no_best_coin, progress=say)
        results.append(w)
        bounds.append(survivorship_runs(settings, start, end, progress=say) if args.survivorship else None)
    config_file = args.config or DEFAULT_CONFIG_PATH
    digest = config_fingerprint(settings)
    file_digest = hashlib.sha256(Path(config_file).read_bytes()).hexdigest()
    hidden = {args.out, args.readme} - {None}
    command = "dca " + " ".join(a for a in args.argv if not a.startswith(("--out", "--readme")) and a not in hidden)
    text = verdict_report(results, digest, command)
    text += f"\nConfiguration file `{Path(config_file).name}` sha256 `{file_digest}`.\n"
    for w, b in zip(results, bounds):
        if args.survivorship:
            text += f"\nSurvivorship bounds, {w.label}:\n\n{survivorship_markdown(b)}\n"
    out = Path(args.out) if args.out else dca_home() / "reports" / "verdict.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.readme:
        from dca_pipeline.backtest.verdict import replace_block

        readme = Path(args.readme)
        readme.write_text(replace_block(readme.read_text(), text))
        print(f"README block replaced in {readme}", file=sys.stderr)
    print(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


def _run_with_bar(settings, start: date, end: date, **kwargs):  # noqa: ANN001, ANN201 - Settings in, BacktestResult out
    """`run_backtest` with a tqdm progress bar (stderr, with ETA) over its months, fed by its `month_progress`
    callback (done, total); the engine's own messages (the month it is on) go to the bar's postfix."""
    from tqdm import tqdm

    from dca_pipeline.backtest import run_backtest
    from dca_pipeline.backtest.window import months_between

    with tqdm(total=len(months_between(start, end)), desc=f"backtest {start} → {end}", unit="month", file=sys.stderr,
              dynamic_ncols=True) as bar:

        def on_month(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return run_backtest(settings, start, end, **{**kwargs, "progress": bar.set_postfix_str}, month_progress=on_month)


def _range_errors() -> tuple[type[Exception], ...]:
    """The errors that mean "dates outside the data": the window check's, and the sources' DataRangeError."""
    from dca_pipeline.backtest.window import OutsideDataRange

    try:
        from dca_pipeline.ingestion.errors import DataRangeError  # type: ignore[attr-defined]
    except ImportError:
        return (OutsideDataRange,)
    return (OutsideDataRange, DataRangeError)


def _require_data_for(settings, start: date, end: date) -> None:  # noqa: ANN001
    """Fail before any work when the replay's data does not cover [start, end] (the message names its range)."""
    from dca_pipeline.backtest.window import data_range_of, require_within

    if settings.source == "replay":
        from dca_pipeline.ingestion.sources import ReplaySource

        require_within(start, end, data_range_of(ReplaySource()))


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


def _tax_report(args: argparse.Namespace) -> int:
    from dca_pipeline.monitoring.tax_report import build_tax_report, ledger_fills, write_tax_report
    from dca_pipeline.paths import dca_home, warehouse_path

    report = build_tax_report(ledger_fills(warehouse_path()), args.year)
    out = Path(args.out) if args.out else dca_home() / "reports" / f"tax_{args.year}"
    for path in write_tax_report(report, out, excel_br=args.excel_br):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dca", description="dca_pipeline command line")
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser("backtest", help="walk-forward backtest over the bundled history")
    bt.add_argument("--start", required=True)
    bt.add_argument("--end", required=True)
    bt.add_argument("--out", help="HTML tearsheet path (default: $DCA_HOME/reports/...)")
    bt.add_argument("--png", help="the tearsheet's charts in one PNG (default: the HTML path with .png)")
    bt.add_argument("--config", help="YAML configuration (default: $DCA_CONFIG or the packaged default)")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting, e.g. portfolio.objective=max_sharpe")
    bt.add_argument("--attribution", action="store_true", help="split the excess over BTC DCA into selection, weighting, costs")
    bt.add_argument("--no-regime", action="store_true", help="skip the monthly regime fits (faster)")
    bt.add_argument("--survivorship", action="store_true", help="also run both delisting policies for the tearsheet's bounds")
    bt.add_argument("--sweep", action="append", metavar="KEY=V1,V2", help="compare values side by side (repeatable: a grid)")
    bt.add_argument("--ab", nargs=2, metavar=("A.yaml", "B.yaml"), help="A/B: two flag sets (partial YAML) on the same data, with B - A")
    bt.set_defaults(func=_backtest)
    vd = sub.add_parser("verdict", help="strategy vs BTC-only, top-20, equal-weight, Ibovespa DCA and CDI, 2022-2025 and 2018-2021")
    vd.add_argument("--config", help="YAML configuration (default: the packaged default; its hash is recorded)")
    vd.add_argument("--out", help="markdown output (default: $DCA_HOME/reports/verdict.md)")
    vd.add_argument("--window", action="append", metavar="START:END", help="other windows instead of the two verdict windows")
    vd.add_argument("--no-best-coin", action="store_true", help="skip the rerun without the best-contributing coin")
    vd.add_argument("--survivorship", action="store_true", help="also run both delisting policies (last price, write-off)")
    vd.add_argument("--readme", help="also replace the <!-- verdict:start/end --> block of this file (README.md)")
    vd.set_defaults(func=_verdict)
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
    tax = sub.add_parser("tax-report", help="the year's operations, custo médio with fees and monthly sales vs the R$35k exemption (CSV)")
    tax.add_argument("--year", type=int, required=True)
    tax.add_argument("--out", help="output directory (default: $DCA_HOME/reports/tax_<year>)")
    tax.add_argument("--excel-br", action="store_true", help="semicolon separator and decimal comma (pt-BR spreadsheets)")
    tax.set_defaults(func=_tax_report)
    from dca_pipeline.secrets import install_redaction

    install_redaction()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
