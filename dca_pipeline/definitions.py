"""The Dagster code location: the merge of every layer's own definitions (`<layer>/definitions.py`).

Nothing here reads the settings: resources resolve them when a run starts (`PipelineConfig`, and `MarketData` /
`Broker` with empty fields take the configuration's source, connectors and broker mode).
"""
from __future__ import annotations

from dagster import Definitions, multiprocess_executor

from dca_pipeline.analytics import definitions as analytics
from dca_pipeline.execution import definitions as execution
from dca_pipeline.governance import definitions as governance
from dca_pipeline.ingestion import definitions as ingestion
from dca_pipeline.intelligence import definitions as intelligence
from dca_pipeline.monitoring import definitions as monitoring
from dca_pipeline.portfolio import definitions as portfolio
from dca_pipeline.storage import definitions as storage
from dca_pipeline.execution.resources import Broker
from dca_pipeline.ingestion.resources import MarketData
from dca_pipeline.resources import PipelineConfig
from dca_pipeline.secrets import install_redaction
from dca_pipeline.recovery import recovering
from dca_pipeline.backfills import with_upstream_job

# low → high; the layers' modules, not their Definitions (Dagster's loader allows one at module scope)
LAYERS = [storage, governance, ingestion, analytics, intelligence, portfolio, execution, monitoring]
install_redaction()  # secrets masked in log records, Dagster's serialized errors and governance metadata

RESOURCES = {
    "config": PipelineConfig(),
    "pipeline_config": PipelineConfig(),  # same settings, for assets whose `config` is run configuration
    "market_data": MarketData(),  # source and connectors from the configuration, at run start
    "broker": Broker(),  # paper | live from the configuration, at run start
}

defs = Definitions.merge(
    *(layer.defs for layer in LAYERS),
    Definitions(
        resources=RESOURCES,
        # a partition range of an asset plus its missing upstream partitions, as one asset backfill (backfills.py)
        jobs=[with_upstream_job(lambda: defs.resolve_asset_graph())],
        # Ad-hoc materializations from the UI run a process per step (parallel where the graph allows); DuckDB
        # access waits for the file lock and releases it when each step ends. The scheduled jobs run in process.
        executor=recovering(multiprocess_executor.configured({"max_concurrent": 2})),  # frees dead runs' pool slots first
    ),
)
