"""Alerts: critical / warning / info, routed to channels (log, webhook, Telegram, email), de-duplicated and rate-limited.

Channel secrets (webhook URL, bot token, SMTP password) come only from environment variables and are redacted
from every error message; `$DCA_HOME/alerts.jsonl` records what was sent, suppressed or failed.
"""
from __future__ import annotations

import json
import logging
import os
import smtplib
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from dca_pipeline.paths import dca_home

LOG = logging.getLogger("dca_pipeline.alerts")


class Severity(IntEnum):
    INFO = 10
    WARNING = 20
    CRITICAL = 30


@dataclass(frozen=True)
class Alert:
    severity: Severity
    title: str
    message: str
    key: str = ""  # alerts with the same key inside the de-duplication window are sent once
    fields: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        extra = "".join(f"\n{k}: {v}" for k, v in self.fields.items())
        return f"[{self.severity.name}] {self.title}\n{self.message}{extra}"


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


class LogChannel:
    name = "log"

    def send(self, alert: Alert) -> None:
        level = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}[alert.severity]
        LOG.log(level, alert.text())


@dataclass
class WebhookChannel:
    """POSTs the alert as JSON to a URL (Slack-, Discord- or anything-compatible relay)."""

    url: str
    timeout: float = 10.0
    name: str = "webhook"

    def send(self, alert: Alert) -> None:
        body = json.dumps({"severity": alert.severity.name, "title": alert.title, "message": alert.message,
                           "key": alert.key, "fields": alert.fields, "text": alert.text()}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - URL comes from the operator
            if resp.status >= 300:
                raise RuntimeError(f"webhook answered HTTP {resp.status}")


@dataclass
class TelegramChannel:
    """Telegram Bot API sendMessage; `api_base` is overridable so tests can point it at a loopback server."""

    token: str
    chat_id: str
    api_base: str = "https://api.telegram.org"
    timeout: float = 10.0
    name: str = "telegram"

    def send(self, alert: Alert) -> None:
        body = json.dumps({"chat_id": self.chat_id, "text": alert.text()}).encode()
        req = urllib.request.Request(f"{self.api_base}/bot{self.token}/sendMessage", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
            payload = json.loads(resp.read() or b"{}")
            if not payload.get("ok", False):
                raise RuntimeError(f"telegram refused the message: {payload.get('description', 'no description')}")


@dataclass
class EmailChannel:
    """Plain-text email over SMTP (STARTTLS and login when configured)."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0
    name: str = "email"

    def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[dca_pipeline {alert.severity.name}] {alert.title}"
        msg["From"], msg["To"] = self.sender, ", ".join(self.recipients)
        msg.set_content(alert.text())
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)


@dataclass
class AlertRouter:
    """Sends an alert to every channel whose minimum severity it reaches, once per key per window, and at most
    `max_per_hour` alerts per channel; a failing channel never stops the others."""

    channels: list[tuple[Channel, Severity]]
    dedupe_seconds: float = 3600.0
    max_per_hour: int = 20
    secrets: list[str] = field(default_factory=list)
    state_path: Path | None = None
    clock: object = time.time

    def _state(self) -> dict:
        path = self.state_path or dca_home() / "alerts_state.json"
        return json.loads(path.read_text()) if path.exists() else {"last_sent": {}, "sent_at": {}}

    def _save(self, state: dict) -> None:
        path = self.state_path or dca_home() / "alerts_state.json"
        path.write_text(json.dumps(state))

    def send(self, alert: Alert) -> dict[str, str]:
        now = float(self.clock())  # type: ignore[operator]
        state = self._state()
        outcome: dict[str, str] = {}
        key = alert.key or f"{alert.severity.name}:{alert.title}"
        if now - state["last_sent"].get(key, -1e18) < self.dedupe_seconds:
            outcome = {"*": "suppressed: duplicate"}
        else:
            for channel, minimum in self.channels:
                if alert.severity < minimum:
                    continue
                recent = [t for t in state["sent_at"].get(channel.name, []) if now - t < 3600]
                if len(recent) >= self.max_per_hour:
                    outcome[channel.name] = "suppressed: rate limit"
                    continue
                try:
                    channel.send(alert)
                    outcome[channel.name] = "sent"
                    recent.append(now)
                except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the others
                    outcome[channel.name] = redact(f"failed: {type(exc).__name__}: {exc}", self.secrets)
                state["sent_at"][channel.name] = recent
            state["last_sent"][key] = now
            self._save(state)
        record = {"at": datetime.now(timezone.utc).isoformat(), **asdict(alert), "severity": alert.severity.name, "outcome": outcome}
        with (dca_home() / "alerts.jsonl").open("a") as fh:
            fh.write(redact(json.dumps(record), self.secrets) + "\n")
        return outcome


def router_from_env(env: dict[str, str] | None = None) -> AlertRouter:
    """Channels configured by environment variables; the log channel is always on.

    DCA_ALERT_WEBHOOK_URL; DCA_TELEGRAM_BOT_TOKEN + DCA_TELEGRAM_CHAT_ID (+ DCA_TELEGRAM_API_BASE);
    DCA_SMTP_HOST, DCA_SMTP_PORT, DCA_ALERT_EMAIL_FROM, DCA_ALERT_EMAIL_TO (comma-separated),
    DCA_SMTP_USER, DCA_SMTP_PASSWORD, DCA_SMTP_STARTTLS=1; DCA_ALERT_MIN_SEVERITY (INFO|WARNING|CRITICAL,
    for the external channels, default WARNING).
    """
    e = dict(os.environ if env is None else env)
    minimum = Severity[e.get("DCA_ALERT_MIN_SEVERITY", "WARNING").upper()]
    channels: list[tuple[Channel, Severity]] = [(LogChannel(), Severity.INFO)]
    secrets: list[str] = []
    if e.get("DCA_ALERT_WEBHOOK_URL"):
        channels.append((WebhookChannel(e["DCA_ALERT_WEBHOOK_URL"]), minimum))
        secrets.append(e["DCA_ALERT_WEBHOOK_URL"])
    if e.get("DCA_TELEGRAM_BOT_TOKEN") and e.get("DCA_TELEGRAM_CHAT_ID"):
        channels.append((TelegramChannel(e["DCA_TELEGRAM_BOT_TOKEN"], e["DCA_TELEGRAM_CHAT_ID"],
                                         e.get("DCA_TELEGRAM_API_BASE", "https://api.telegram.org")), minimum))
        secrets.append(e["DCA_TELEGRAM_BOT_TOKEN"])
    if e.get("DCA_SMTP_HOST") and e.get("DCA_ALERT_EMAIL_TO"):
        channels.append((EmailChannel(e["DCA_SMTP_HOST"], int(e.get("DCA_SMTP_PORT", "25")), e.get("DCA_ALERT_EMAIL_FROM", "dca-pipeline@localhost"),
                                      [a.strip() for a in e["DCA_ALERT_EMAIL_TO"].split(",")], e.get("DCA_SMTP_USER", ""),
                                      e.get("DCA_SMTP_PASSWORD", ""), e.get("DCA_SMTP_STARTTLS") == "1"), minimum))
        secrets.append(e.get("DCA_SMTP_PASSWORD", ""))
    return AlertRouter(channels, secrets=[s for s in secrets if s])
