"""Victim processes for the kill tests, forked from one multiprocessing fork server.

The fork server imports the kill scripts (polars, duckdb, ccxt, the execution layer) once per test process; each
victim is then a fork of it, so a trial costs its day rather than an interpreter start and the imports, and
`Process.kill()` ends it with SIGKILL as it would any process. Victims get the caller's environment at start (the
fork server's own is the one it started with).
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

PRELOAD = ["dca_pipeline_tests.execution.kill_day", "dca_pipeline_tests.execution.kill_live_day",
           "pandas"]  # pandas: duckdb loads it on its first parametrized query


def _call(env: dict[str, str], target: Callable, args: tuple) -> None:
    os.environ.clear()
    os.environ.update(env)
    target(*args)


def start(target: Callable, *args: object) -> multiprocessing.Process:
    """`target(*args)` in a new process forked from the fork server, with this process's environment."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    proc = context.Process(target=_call, args=(dict(os.environ), target, args), daemon=True)
    proc.start()
    return proc
