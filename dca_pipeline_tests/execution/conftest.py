"""After every execution test, the event ledger of the test's warehouse must satisfy the ledger identity."""
import pytest

from dca_pipeline.execution import ledger_views
from dca_pipeline.paths import warehouse_path
from dca_pipeline.storage import duck


def assert_identity(db) -> None:  # noqa: ANN001
    """contributions + realized P&L = cash + cost of positions + fees (centavos), cash ≥ 0."""
    ident = ledger_views.identity(db)
    assert ident.holds, f"ledger identity broken: {ident}"


@pytest.fixture(autouse=True)
def ledger_identity_after_test():  # noqa: ANN201
    yield
    db = warehouse_path()
    if db.exists() and duck.table_exists(db, "execution", "events"):
        assert_identity(db)
