"""Materialize an asset's partitions together with every upstream partition they need, as one Dagster asset backfill.

Each dependency declares what a partition reads upstream as a partition mapping (partitions.py: a day's features
read the raw bars of the 400 days up to it, a month's regime the 40 months of bars before it, a day's orders its
month's target weights, …). `upstream_closure` walks those mappings up from the requested partitions with Dagster's
own asset graph, keeping the upstream partitions that were never materialized (a stored partition needs nothing
more), and `launch_backfill` submits the result as one asset backfill. The backfill daemon (`dagster dev`) then runs
it in dependency order, grouping each asset's partitions by its backfill policy (a range of raw bars or features
in one run), and the UI shows it under *Overview → Backfills*.

Dagster's own *Materialize* button can only infer partitions downstream of the selection's roots, and a selection
holding daily and monthly roots (raw bars and market caps) has no common root partitioning; so the UI entry point is
the job `materialize_with_upstream_job` (launch it from its Launchpad with the asset and the first and last partition).
"""
from collections.abc import Callable, Sequence

from dagster import (
    AssetKey,
    Config,
    DagsterInstance,
    JobDefinition,
    OpExecutionContext,
    PartitionKeyRange,
    in_process_executor,
    job,
    op,
)
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

BACKFILL_TAG = "dca/with_upstream"  # on the backfill: the asset and range it was asked for


def upstream_closure(asset_graph, instance: DagsterInstance, key: AssetKey, partition_keys: Sequence[str]) -> AssetGraphSubset:  # noqa: ANN001
    """The requested partitions of `key` and every never-materialized upstream partition they need, following each
    dependency's partition mapping (a materialized partition stops the walk: what it read exists already)."""
    node = asset_graph.get(key)
    target: dict[AssetKey, object] = {key: node.partitions_def.subset_with_partition_keys(list(partition_keys))}
    frontier = [key]
    materialized: dict[AssetKey, set[str]] = {}
    while frontier:
        child = frontier.pop()
        child_node = asset_graph.get(child)
        for parent in sorted(child_node.parent_keys):
            parent_node = asset_graph.get(parent)
            if not parent_node.is_materializable or parent_node.partitions_def is None:
                continue
            mapping = asset_graph.get_partition_mapping(child, parent)
            needed = mapping.get_upstream_mapped_partitions_result_for_partitions(
                target[child], child_node.partitions_def, parent_node.partitions_def, dynamic_partitions_store=instance
            ).partitions_subset
            if parent not in materialized:
                materialized[parent] = set(instance.get_materialized_partitions(parent))
            missing = set(needed.get_partition_keys()) - materialized[parent]
            have = target.get(parent, parent_node.partitions_def.empty_subset())
            new = missing - set(have.get_partition_keys())
            if new:
                target[parent] = have.with_partition_keys(sorted(new))
                frontier.append(parent)
    return AssetGraphSubset(partitions_subsets_by_asset_key=target)


def describe(subset: AssetGraphSubset) -> dict[str, str]:
    """Asset → its partitions in the subset as `first...last (n)` (what the backfill will materialize)."""
    out = {}
    for key, parts in sorted(subset.partitions_subsets_by_asset_key.items()):
        keys = sorted(parts.get_partition_keys())
        out[key.to_user_string()] = f"{keys[0]}...{keys[-1]} ({len(keys)})" if len(keys) > 1 else keys[0]
    return out


def launch_backfill(asset_graph, instance: DagsterInstance, key: AssetKey, partition_keys: Sequence[str],  # noqa: ANN001
                    tags: dict[str, str] | None = None) -> tuple[str, AssetGraphSubset]:
    """Submit one asset backfill of `key`'s partitions and their missing upstream; (backfill id, its target)."""
    subset = upstream_closure(asset_graph, instance, key, partition_keys)
    from dagster._core.execution.backfill import PartitionBackfill  # Dagster's backfill machinery: 0.15 s of import, only here
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    backfill_id = make_new_backfill_id()
    asked = f"{key.to_user_string()} {partition_keys[0]}...{partition_keys[-1]}"
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=get_current_timestamp(),
            tags={**(tags or {}), BACKFILL_TAG: asked},
            dynamic_partitions_store=instance,
            asset_graph_subset=subset,
            title=f"{asked} with upstream",
            description="; ".join(f"{k}: {v}" for k, v in describe(subset).items()),
            run_config=None,
        )
    )
    return backfill_id, subset


class WithUpstreamConfig(Config):
    """Which partitions to materialize: `asset`'s partitions from `first_partition` to `last_partition` (inclusive)."""

    asset: str = "dca_orders"
    first_partition: str = "2025-06-01"
    last_partition: str = "2025-06-30"


def with_upstream_job(asset_graph: Callable[[], object]) -> JobDefinition:
    """The Launchpad job: `asset_graph` returns the code location's asset graph (definitions.py passes its own)."""

    @op(description="Submits one asset backfill of the asset's partitions and every missing upstream partition they need")
    def backfill_with_upstream(context: OpExecutionContext, config: WithUpstreamConfig) -> str:
        graph = asset_graph()
        key = AssetKey.from_user_string(config.asset)
        pdef = graph.get(key).partitions_def
        partition_keys = pdef.get_partition_keys_in_range(PartitionKeyRange(config.first_partition, config.last_partition))
        backfill_id, subset = launch_backfill(graph, context.instance, key, partition_keys, tags={"dca/launched_by_run": context.run_id})
        for asset, parts in describe(subset).items():
            context.log.info(f"{asset}: {parts}")
        context.add_output_metadata({"backfill_id": backfill_id, **describe(subset)})
        return backfill_id

    @job(executor_def=in_process_executor, description="Launchpad: materialize an asset's partitions (default: a month of "
         "dca_orders) with every upstream partition they need, as one asset backfill (Overview → Backfills shows its progress)")
    def materialize_with_upstream_job() -> None:
        backfill_with_upstream()

    return materialize_with_upstream_job
