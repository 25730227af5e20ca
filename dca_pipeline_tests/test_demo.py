"""The demo's instance writes: Dagster's SQLite storage without an fsync per event inside the demo only."""
from pathlib import Path

from dagster import DagsterInstance
from sqlalchemy import create_engine, text

from dca_pipeline.demo import unsynced_instance_writes
from dca_pipeline.runner import BlockedDay, blocked_days_report


def _synchronous(path: Path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        value = conn.execute(text("PRAGMA synchronous")).scalar()
    engine.dispose()
    return int(value)


def test_only_the_demo_block_turns_fsync_off(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert _synchronous(db) == 2  # SQLite's default, FULL
    with unsynced_instance_writes():
        assert _synchronous(db) == 0  # OFF
        (tmp_path / "instance").mkdir()
        with DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:  # Dagster's own storage still works
            assert instance.get_runs() == []
    assert _synchronous(db) == 2  # and back to the default after the demo


def test_the_demo_lists_blocked_days() -> None:
    from datetime import date

    assert blocked_days_report([]) == "blocked days: none"
    text_ = blocked_days_report([BlockedDay(date(2021, 1, 15), ("raw_ohlcv_1d:quarantine_share", "raw_ohlcv_1d:prices_for_held_and_targeted"))])
    assert text_.splitlines() == ["blocked days (1): a blocking check stopped each; no orders were placed on them",
                                  "  2021-01-15: raw_ohlcv_1d:quarantine_share, raw_ohlcv_1d:prices_for_held_and_targeted"]
