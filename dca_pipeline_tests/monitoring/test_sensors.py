"""The run-failure sensor records an alert; `dg check defs` accepts the project."""
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, build_run_status_sensor_context, job, op

from dca_pipeline.monitoring.sensors import run_failure_alert
from dca_pipeline.paths import PROJECT_ROOT, dca_home


@op
def explode() -> None:
    raise RuntimeError("exchange unreachable")


@job
def failing_job() -> None:
    explode()


def test_failed_run_writes_an_alert() -> None:
    with DagsterInstance.ephemeral() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        run_failure_alert(context)
    alerts = [json.loads(line) for line in (dca_home() / "alerts.jsonl").read_text().splitlines()]
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "CRITICAL" and alerts[0]["fields"]["job"] == "failing_job"
    assert alerts[0]["fields"]["run_id"] == result.run_id and "explode" in alerts[0]["message"]
    assert alerts[0]["outcome"] == {"log": "sent"}  # no external channel configured


def test_dg_check_defs_accepts_the_project(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    dg = Path(sys.executable).with_name("dg")
    proc = subprocess.run([str(dg), "check", "defs"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def test_stale_data_sensor_alerts_only_for_live_data(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import yaml
    from dagster import AssetMaterialization, build_sensor_context

    from dca_pipeline.config import DEFAULT_CONFIG_PATH
    from dca_pipeline.monitoring import sensors
    from dca_pipeline.resources import PipelineConfig

    (tmp_path / "live.yaml").write_text(yaml.safe_dump(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())))
    replay_config = PipelineConfig()
    live_config = PipelineConfig(config_path=str(tmp_path / "live.yaml"))
    with DagsterInstance.ephemeral() as instance:
        with build_sensor_context(instance=instance, resources={"pipeline_config": replay_config}) as ctx:
            assert "replay" in sensors.stale_data_alert(ctx).skip_message  # history is not stale
        instance.report_runless_asset_event(AssetMaterialization("raw_ohlcv_1d", partition="2021-01-05"))
        monkeypatch.setenv("DCA_ENV", "paper")  # live data (the dev overlay would pin the replay)
        with build_sensor_context(instance=instance, resources={"pipeline_config": live_config}) as ctx:
            assert sensors.stale_data_alert(ctx) is None  # it alerted
    alert = json.loads((dca_home() / "alerts.jsonl").read_text().splitlines()[-1])
    assert alert["title"] == "stale market data" and alert["fields"]["newest_partition"] == "2021-01-05"
