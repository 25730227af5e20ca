"""Manual overrides: a global kill switch and per-asset freezes, as files under $DCA_HOME/control/.

`trading_block_reason(symbol)` is the single question the broker boundary asks before every order is sent;
it re-reads the files each time, so a kill switch set mid-plan stops the remaining orders. Every change is
written to the audit log.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from dca_pipeline.governance import audit
from dca_pipeline.paths import dca_home, warehouse_path

KILL_SWITCH = "KILL_SWITCH"
FROZEN_DIR = "frozen"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def control_dir(home: Path | None = None) -> Path:
    path = (home or dca_home()) / "control"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _frozen_name(symbol: str) -> str:
    """One file per frozen asset, named after its base (`ADA/BRL` and `ADA` both freeze ADA)."""
    base = symbol.split("/")[0].strip().upper()
    if not base:
        raise ValueError(f"cannot freeze an empty symbol ({symbol!r})")
    return _SAFE.sub("_", base)


def _frozen_file(symbol: str, home: Path | None = None) -> Path:
    return control_dir(home) / FROZEN_DIR / _frozen_name(symbol)


def _write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True))
    os.replace(tmp, path)


def _read(path: Path) -> dict | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {"reason": str(data)}
    except json.JSONDecodeError:
        return {"reason": text.strip() or "(no reason given)"}  # an operator may `echo reason > KILL_SWITCH`


def kill_switch_state(home: Path | None = None, control: Path | None = None) -> dict | None:
    """The kill switch record (reason, actor, at) when it is on, else None (`control`: the control folder when the
    caller has it)."""
    return _read((control or control_dir(home)) / KILL_SWITCH)


def set_kill_switch(on: bool, reason: str = "", *, actor: str = "user", run_id: str = "",
                    db: Path | None = None, home: Path | None = None) -> dict | None:
    """Turn the kill switch on (reason required) or off; the change is audited. Returns the new state."""
    path = control_dir(home) / KILL_SWITCH
    before = kill_switch_state(home)
    if on:
        if not reason.strip():
            raise ValueError("the kill switch needs a reason")
        state = {"reason": reason.strip(), "actor": actor, "run_id": run_id, "at": datetime.now(timezone.utc).isoformat()}
        _write_atomic(path, state)
    else:
        path.unlink(missing_ok=True)
        state = None
    audit.append(db or warehouse_path(), "kill_switch_on" if on else "kill_switch_off", "global",
                 actor=actor, run_id=run_id, before=before, after=state)
    return state


def frozen_assets(home: Path | None = None) -> dict[str, dict]:
    """Frozen bases and their records."""
    folder = control_dir(home) / FROZEN_DIR
    if not folder.exists():
        return {}
    return {p.name: _read(p) or {} for p in sorted(folder.iterdir()) if not p.name.endswith(".tmp")}


def freeze_asset(symbol: str, reason: str, *, actor: str = "user", run_id: str = "",
                 db: Path | None = None, home: Path | None = None) -> dict:
    """Stop trading one asset (by base) until unfrozen; audited."""
    if not reason.strip():
        raise ValueError(f"freezing {symbol} needs a reason")
    path = _frozen_file(symbol, home)
    before = _read(path)
    state = {"symbol": symbol, "reason": reason.strip(), "actor": actor, "run_id": run_id,
             "at": datetime.now(timezone.utc).isoformat()}
    _write_atomic(path, state)
    audit.append(db or warehouse_path(), "asset_frozen", path.name, actor=actor, run_id=run_id, before=before, after=state)
    return state


def unfreeze_asset(symbol: str, *, actor: str = "user", run_id: str = "", db: Path | None = None,
                   home: Path | None = None) -> dict | None:
    """Resume trading one asset; audited (also when it was not frozen, so the attempt is on record)."""
    path = _frozen_file(symbol, home)
    before = _read(path)
    path.unlink(missing_ok=True)
    audit.append(db or warehouse_path(), "asset_unfrozen", path.name, actor=actor, run_id=run_id, before=before, after=None)
    return before


def trading_block_reason(symbol: str, home: Path | None = None) -> str | None:
    """Why an order for `symbol` must not be sent now (kill switch, then freeze), or None when it may go."""
    return block_reason_in(control_dir(home), symbol)


def block_reason_in(control: Path, symbol: str) -> str | None:
    """`trading_block_reason` against the control folder `control` (`control_dir()`, found once by a caller that
    asks for many orders): the files are re-read on every call."""
    kill = _read(control / KILL_SWITCH)
    if kill is not None:
        return f"kill switch on: {kill.get('reason', '(no reason given)')}"
    frozen = _read(control / FROZEN_DIR / _frozen_name(symbol))
    if frozen is not None:
        return f"{symbol} frozen: {frozen.get('reason', '(no reason given)')}"
    return None


def freeze_reasons(symbols: list[str], home: Path | None = None, control: Path | None = None) -> dict[str, str]:
    """The frozen ones of `symbols` with `trading_block_reason`'s text for a freeze, from one listing of the freeze
    folder (the kill switch is the caller's to read); `control`: the control folder when the caller has it."""
    folder = (control or control_dir(home)) / FROZEN_DIR
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return {}
    out = {}
    for symbol in symbols:
        if _frozen_name(symbol) in names and (frozen := _read(folder / _frozen_name(symbol))) is not None:
            out[symbol] = f"{symbol} frozen: {frozen.get('reason', '(no reason given)')}"
    return out


def pre_send_block_reasons(symbol: str, home: Path | None = None, control: Path | None = None) -> list[str]:
    """`trading_block_reason` in the list shape of execution/guards.py's `pre_send_guards` (empty = may send);
    `control`: the control folder when the caller has it (`block_reason_in`)."""
    reason = block_reason_in(control or control_dir(home), symbol)
    return [] if reason is None else [reason]
