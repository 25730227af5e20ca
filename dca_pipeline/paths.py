"""Where the pipeline keeps its state: everything lives under $DCA_HOME (default ./.dca)."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DATA_DIR = PROJECT_ROOT / "data"


def dca_home() -> Path:
    """The state directory, created on first use."""
    home = Path(os.environ.get("DCA_HOME", ".dca")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def warehouse_path() -> Path:
    return dca_home() / "warehouse.duckdb"


def bundled_data_dir() -> Path:
    """The bundled history (override with DCA_DATA_DIR, e.g. for a non-editable install)."""
    return Path(os.environ.get("DCA_DATA_DIR", BUNDLED_DATA_DIR))
