"""Alerts through real channels on loopback servers: webhook, Telegram's API shape, SMTP; dedupe, rate limit, redaction."""
import json

from dca_pipeline.governance.alerts import Alert, AlertRouter, Severity, router_from_env
from dca_pipeline.paths import dca_home
from dca_pipeline_tests.monitoring.loopback import Recorder, SmtpSink

TOKEN = "123456:SECRET-bot-token-xyz"


def _env(http: Recorder, smtp: SmtpSink) -> dict[str, str]:
    return {
        "DCA_ALERT_WEBHOOK_URL": f"{http.url}/hook",
        "DCA_TELEGRAM_BOT_TOKEN": TOKEN,
        "DCA_TELEGRAM_CHAT_ID": "42",
        "DCA_TELEGRAM_API_BASE": http.url,
        "DCA_SMTP_HOST": "127.0.0.1",
        "DCA_SMTP_PORT": str(smtp.port),
        "DCA_ALERT_EMAIL_TO": "owner@example.org",
        "DCA_SMTP_PASSWORD": "",
    }


def test_critical_alert_reaches_every_channel() -> None:
    http, smtp = Recorder(), SmtpSink()
    router = router_from_env(_env(http, smtp))
    outcome = router.send(Alert(Severity.CRITICAL, "run failed: daily_job", "exchange unreachable", fields={"partition": "2021-01-05"}))
    assert outcome == {"log": "sent", "webhook": "sent", "telegram": "sent", "email": "sent"}
    paths = {p: body for p, body in http.requests}
    assert paths["/hook"]["severity"] == "CRITICAL" and paths["/hook"]["fields"]["partition"] == "2021-01-05"
    assert paths[f"/bot{TOKEN}/sendMessage"]["chat_id"] == "42"
    assert "exchange unreachable" in paths[f"/bot{TOKEN}/sendMessage"]["text"]
    assert "Subject: [dca_pipeline CRITICAL] run failed: daily_job" in smtp.messages[0]


def test_info_stays_in_the_log_by_default() -> None:
    http, smtp = Recorder(), SmtpSink()
    outcome = router_from_env(_env(http, smtp)).send(Alert(Severity.INFO, "daily summary", "ok"))
    assert outcome == {"log": "sent"} and http.requests == [] and smtp.messages == []


def test_duplicates_are_suppressed_and_rate_limit_holds() -> None:
    http = Recorder()
    now = [1000.0]
    from dca_pipeline.governance.alerts import WebhookChannel

    router = AlertRouter([(WebhookChannel(f"{http.url}/hook"), Severity.INFO)], dedupe_seconds=600, max_per_hour=3, clock=lambda: now[0])
    assert router.send(Alert(Severity.WARNING, "stale data", "x", key="stale")) == {"webhook": "sent"}
    assert router.send(Alert(Severity.WARNING, "stale data", "x", key="stale")) == {"*": "suppressed: duplicate"}
    now[0] += 601
    assert router.send(Alert(Severity.WARNING, "stale data", "x", key="stale")) == {"webhook": "sent"}
    assert router.send(Alert(Severity.WARNING, "other", "y", key="k2")) == {"webhook": "sent"}
    assert router.send(Alert(Severity.WARNING, "third", "z", key="k3")) == {"webhook": "suppressed: rate limit"}
    assert len(http.requests) == 3


def test_failing_channel_is_reported_without_leaking_the_token() -> None:
    http, smtp = Recorder(status=500, reply={"ok": False}), SmtpSink()
    outcome = router_from_env(_env(http, smtp)).send(Alert(Severity.CRITICAL, "boom", "x"))
    assert outcome["email"] == "sent"  # one broken channel does not silence the others
    assert outcome["telegram"].startswith("failed") and TOKEN not in outcome["telegram"]
    written = (dca_home() / "alerts.jsonl").read_text()
    assert TOKEN not in written and http.url + "/hook" not in written
    assert json.loads(written.splitlines()[-1])["outcome"]["webhook"].startswith("failed")
