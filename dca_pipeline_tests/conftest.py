"""Every test runs with temporary $DCA_HOME and $DAGSTER_HOME, and never touches the network."""
import os
from pathlib import Path

import pytest

from dca_pipeline.storage import duck

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def temp_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dca_home"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    monkeypatch.setenv("DCA_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    for name in ("DCA_CONFIG", "DCA_ALERT_WEBHOOK_URL", "DCA_TELEGRAM_BOT_TOKEN", "DCA_SMTP_HOST", "DCA_LIVE_TRADING",
                 "DCA_ENV", "DCA_LEDGER_KEY", "DCA_LEDGER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)  # a developer's own settings must not leak into tests
    yield home
    duck.close_all()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything tries to open a non-loopback socket."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self, address):  # noqa: ANN001, ANN202
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"tests must not touch the network (tried {address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def january_2021(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """January 2021 built once through the real jobs (see months.py); copy a home before writing to it. Under
    pytest-xdist the first worker that needs it builds it and the others wait for it and share it."""
    from dca_pipeline_tests.months import build_month, build_month_once

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build_month(tmp_path_factory.mktemp("january_2021"))
    return build_month_once(tmp_path_factory.getbasetemp().parent / "january_2021")
