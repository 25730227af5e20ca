"""Crash recovery that needs no operator: a run killed while it holds a concurrency pool slot
(`exchange_api`, `duckdb_warehouse`) must not block every later run.

Two mechanisms, both on (see docs/operations.md):
- Dagster's run monitoring (dagster.yaml `run_monitoring`): with the daemon up, dead run workers are
  failed and the slots of finished runs are freed (`free_slots_after_run_end_seconds`).
- Without a daemon (`dagster asset materialize`, the demo runner, backfills in process), every run of our
  jobs first frees the slots of runs whose worker process is gone. Each run tags itself with its worker
  (`dca/run_worker` = host:pid:process start time, so a reused pid is not mistaken for the dead worker);
  a run that is not finished, holds slots and whose worker no longer exists on this host is marked failed
  and its slots freed. Runs of another host are left to the daemon.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

from dagster import DagsterInstance, ExecutorDefinition
from dagster._core.executor.base import Executor

RUN_WORKER_TAG = "dca/run_worker"


def _start_time(pid: int) -> str:
    """The process start time in clock ticks since boot (Linux /proc), '' where unknown."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def worker_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def worker_alive(token: str) -> bool | None:
    """False when the worker named by `token` is gone from this host, True when it runs, None if unknowable."""
    try:
        host, pid_s, started = token.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not (started and _start_time(pid) != started)


def release_dead_runs(instance: DagsterInstance, current_run_id: str | None = None, log: Callable[[str], None] | None = None) -> list[str]:
    """Free the pool slots of finished runs and of runs whose worker died; returns the run ids released."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    released = []
    for run_id in sorted(storage.get_concurrency_run_ids() - {current_run_id}):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            token = run.tags.get(RUN_WORKER_TAG)
            if not token or worker_alive(token) is not False:
                continue
            instance.report_run_failed(run, message=f"run worker {token} is gone (killed or crashed): run failed, its pool slots freed")
        storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
        if log:
            log(f"freed the pool slots of run {run_id} ({'dead worker' if run is not None and not run.is_finished else 'finished'})")
    return released


def run_tags() -> dict[str, str]:
    """Tags for runs started in this process (execute_in_process), so a later run can tell if it died."""
    return {RUN_WORKER_TAG: worker_token()}


class _Recovering(Executor):
    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    @property
    def retries(self):  # noqa: ANN201
        return self.inner.retries

    @property
    def step_dependency_config(self):  # noqa: ANN201
        return self.inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator:  # noqa: ANN001
        instance, run_id = plan_context.instance, plan_context.run_id
        if RUN_WORKER_TAG not in plan_context.dagster_run.tags:
            instance.add_run_tags(run_id, run_tags())
        release_dead_runs(instance, run_id, log=plan_context.log.warning)
        yield from self.inner.execute(plan_context, execution_plan)


def recovering(executor_def: ExecutorDefinition) -> ExecutorDefinition:
    """`executor_def` that first tags the run with its worker and frees the slots of dead runs."""
    create = executor_def.executor_creation_fn
    return ExecutorDefinition(
        name=executor_def.name,
        config_schema=executor_def.config_schema,
        requirements=executor_def.get_requirements,
        executor_creation_fn=lambda init_context: _Recovering(create(init_context)),
        description=executor_def.description,
    )
