"""Secrets: read from `NAME` or from the file named by `NAME_FILE`; two API key pairs for rotation; redaction.

Redaction replaces every known secret value with `***` in log records (a record factory plus a filter on the
dca_pipeline and dagster loggers), in Dagster's serialized errors (event log, UI), in exception messages
(`scrub_errors`) and in metadata (`redact_metadata`). Call `install_redaction()` once per process (the code
location does it at import).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would mask ordinary text; secrets are longer
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSPHRASE|WEBHOOK_URL|CREDENTIALS?)(_NEXT)?$", re.IGNORECASE)
DEFAULT_KEY_PREFIX = "DCA_MB_"  # DCA_MB_API_KEY / DCA_MB_API_SECRET (+ _NEXT); the ccxt source uses DCA_<EXCHANGE>_

_EXTRA: set[str] = set()
_EXTRA_LOCK = threading.Lock()
T = TypeVar("T")


class SecretError(RuntimeError):
    """A secret is missing or unreadable; the message names the variable, never the value."""


def read_secret(name: str, environ: Mapping[str, str] | None = None, required: bool = False) -> str | None:
    """The value of env var `name`, else the (stripped) content of the file named by `name_FILE`, else None."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value:
        register_secret(value)
        return value
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise SecretError(f"{name}_FILE points to {file_name!r}, which cannot be read: {exc.strerror}") from None
        if value:
            register_secret(value)
            return value
        raise SecretError(f"{name}_FILE points to {file_name!r}, which is empty")
    if required:
        raise SecretError(f"secret {name} is not set (set {name} or {name}_FILE)")
    return None


@dataclass(frozen=True)
class ApiKeyPair:
    """One exchange API key pair; `label` is `current` or `next` (never print the values)."""

    label: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # keeps the values out of reprs, tracebacks and logs
        return f"ApiKeyPair(label={self.label!r}, api_key='***', api_secret='***')"


def api_key_pairs(environ: Mapping[str, str] | None = None, prefix: str = DEFAULT_KEY_PREFIX) -> list[ApiKeyPair]:
    """The configured key pairs in rotation order: current (`<prefix>API_KEY`/`_SECRET`), then next (…`_NEXT`)."""
    pairs = []
    names = (("current", f"{prefix}API_KEY", f"{prefix}API_SECRET"), ("next", f"{prefix}API_KEY_NEXT", f"{prefix}API_SECRET_NEXT"))
    for label, key_name, secret_name in names:
        key, secret = read_secret(key_name, environ), read_secret(secret_name, environ)
        if key and secret:
            pairs.append(ApiKeyPair(label, key, secret))
        elif key or secret:
            missing = secret_name if key else key_name
            raise SecretError(f"API key pair '{label}' is incomplete: {missing} (or {missing}_FILE) is not set")
    return pairs


def first_working_pair(check: Callable[[ApiKeyPair], T], environ: Mapping[str, str] | None = None,
                       prefix: str = DEFAULT_KEY_PREFIX) -> tuple[ApiKeyPair, T]:
    """Try `check` with the current pair, then the next one; returns the pair that worked and its result.

    Raises SecretError (with each pair's redacted failure) when none works or none is configured."""
    pairs = api_key_pairs(environ, prefix)
    if not pairs:
        raise SecretError(f"no exchange API key configured: set {prefix}API_KEY and {prefix}API_SECRET (or *_FILE)")
    failures = []
    for pair in pairs:
        try:
            return pair, check(pair)
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next pair
            failures.append(f"{pair.label}: {type(exc).__name__}: {redact(str(exc))}")
    raise SecretError("every API key pair failed: " + "; ".join(failures))


def register_secret(value: str) -> None:
    """Add a value (e.g. a token fetched at run time) to the set redacted everywhere."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _EXTRA_LOCK:
            _EXTRA.add(value)


_FILE_CACHE: dict[str, tuple[float, str]] = {}


def _file_content(path: str) -> str:
    """A secret file's stripped content, re-read only when its mtime changes (this runs for every log record)."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return ""
    cached = _FILE_CACHE.get(path)
    if cached is None or cached[0] != mtime:
        try:
            cached = (mtime, Path(path).read_text().strip())
        except OSError:
            return ""
        _FILE_CACHE[path] = cached
    return cached[1]


def _redact_vars() -> set[str]:
    """The names listed in $DCA_REDACT_VARS (comma-separated)."""
    return {n.strip() for n in os.environ.get("DCA_REDACT_VARS", "").split(",") if n.strip()}


def _is_secret_name(name: str, extra: set[str] | None = None) -> bool:
    """Project variables (DCA_*) named like a secret, plus any listed in $DCA_REDACT_VARS (comma-separated; `extra`:
    those names, when the caller has read them)."""
    extra = _redact_vars() if extra is None else extra
    return name in extra or (name.startswith("DCA_") and bool(SECRET_NAME.search(name)))


def known_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value known now: DCA_* env vars whose names look secret, their *_FILE contents, registered values.

    Longest first, so a secret containing another is masked whole. (This runs for every log record: $DCA_REDACT_VARS
    is read once per call, and only the values of the names that may be secret are read.)"""
    env = os.environ if environ is None else environ
    extra = _redact_vars()
    values = set(_EXTRA)
    for name in list(env):
        if not name.startswith("DCA_") and name not in extra and not (name.endswith("_FILE") and name[: -len("_FILE")] in extra):
            continue  # neither test below can hold (both need a DCA_ name or one listed in extra)
        value = env.get(name)
        if value is None:  # unset meanwhile
            continue
        if name.endswith("_FILE") and _is_secret_name(name[: -len("_FILE")], extra):
            content = _file_content(value)
            if len(content) >= MIN_SECRET_LENGTH:
                values.add(content)
        elif _is_secret_name(name, extra) and len(value) >= MIN_SECRET_LENGTH:
            values.add(value)
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret value replaced by `***`."""
    if not text:
        return text
    for s in known_secrets() if secrets is None else secrets:
        if s and s in text:
            text = text.replace(s, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Recursively redact strings inside dicts, lists and tuples (other values unchanged)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


def redact_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata with secrets masked: strings, nested containers and text/markdown/json MetadataValues."""
    from dagster import MetadataValue

    out: dict[str, Any] = {}
    for key, value in metadata.items():
        raw = getattr(value, "value", None) if isinstance(value, MetadataValue) else None
        if isinstance(raw, str):
            text = redact(raw)
            value = type(value)(text) if text != raw else value
        elif isinstance(value, MetadataValue) and isinstance(raw, (dict, list)):
            value = MetadataValue.json(redact_value(raw))
        else:
            value = redact_value(value)
        out[redact(key)] = value
    return out


class RedactedError(RuntimeError):
    """An error whose message had secrets masked; the original type is named in the message."""


def scrub_exception(exc: BaseException) -> BaseException:
    """`exc` itself when its text holds no secret, else a RedactedError carrying the masked message."""
    text = f"{type(exc).__name__}: {exc}"
    masked = redact(text)
    return exc if masked == text else RedactedError(masked)


def scrub_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: exceptions leaving `fn` have secret values masked (the chain with the raw message is cut)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            clean = scrub_exception(exc)
            if clean is exc:
                raise
            raise clean.with_traceback(exc.__traceback__) from None

    return wrapper


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and exception text (returns True: never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_dca_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must not break logging
        message = str(record.msg)
    record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        record.msg = f"{record.msg}\n{redact(text).rstrip()}"
        record.exc_info, record.exc_text = None, None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._dca_redacted = True  # noqa: SLF001


_INSTALLED = False
LOGGER_NAMES = ("dca_pipeline", "dagster", "dagster.redacted_errors", "")


def install_redaction() -> None:
    """Process-wide redaction (idempotent): log records, handler-level filters and Dagster's serialized errors."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    factory = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
    _patch_dagster_errors()


def _patch_dagster_errors() -> None:
    """Mask secrets in Dagster's SerializableErrorInfo (step failures stored in the event log and shown in the UI)."""
    from dagster._utils.error import SerializableErrorInfo

    original = SerializableErrorInfo.from_traceback.__func__  # type: ignore[attr-defined]
    if getattr(original, "_dca_redacting", False):
        return

    def from_traceback(cls, exc):  # noqa: ANN001, ANN202
        return _redact_error_info(original(cls, exc))

    from_traceback._dca_redacting = True  # type: ignore[attr-defined]
    SerializableErrorInfo.from_traceback = classmethod(from_traceback)  # type: ignore[method-assign]


def _redact_error_info(info: Any) -> Any:
    if info is None:
        return None
    return info._replace(
        message=redact(info.message),
        stack=[redact(line) for line in info.stack],
        cause=_redact_error_info(info.cause),
        context=_redact_error_info(info.context),
    )
