"""Typed, validated configuration: one YAML file, checked by pydantic when it is loaded."""
from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from copy import deepcopy
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")

# Deployment environments: `DCA_ENV=dev|paper|live` picks an overlay YAML deep-merged onto the base config.
# dev = replay data + paper broker (default), paper = live data (ccxt) + paper broker, live = live data + live
# broker. The active environment is attached to runs as the `dca/env` tag and to asset metadata.
ENVIRONMENTS = ("dev", "paper", "live")
DEFAULT_ENV = "dev"
ENV_TAG = "dca/env"
OVERLAY_DIR = Path(__file__).with_name("environments")
ENCRYPTION_REQUIRED_ENVS = frozenset({"paper", "live"})


class ConfigError(ValueError):
    """Raised when the configuration file is missing, malformed or out of range."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fees(_Strict):
    """Exchange fees as fractions of the traded notional (Mercado Bitcoin: maker 0.3%, taker 0.7%)."""

    maker: Decimal = Field(ge=0, le=Decimal("0.05"))
    taker: Decimal = Field(ge=0, le=Decimal("0.05"))


class Tier(_Strict):
    """One market-cap tier: a USD market-cap range or a point-in-time rank band, BRL volume floor, target share,
    asset count. Which bounds are used is `Settings.tiers_by` (usd | rank); the other pair may stay empty."""

    name: str = Field(min_length=1)
    market_cap_min_usd: float | None = Field(default=None, ge=0)
    market_cap_max_usd: float | None = Field(default=None, gt=0)
    rank_min: int | None = Field(default=None, ge=1)  # CoinMarketCap rank in the month's snapshot, inclusive
    rank_max: int | None = Field(default=None, ge=1)
    daily_volume_min_brl: float = Field(ge=0)
    allocation_target: Decimal = Field(gt=0, le=1)
    max_assets: int = Field(ge=1, le=50)

    @model_validator(mode="after")
    def _range_ordered(self) -> "Tier":
        for lo, hi in (("market_cap_min_usd", "market_cap_max_usd"), ("rank_min", "rank_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if (a is None) != (b is None):
                raise ValueError(f"tier {self.name}: {lo} and {hi} must be given together")
            strict = lo.startswith("market")  # a USD range is half-open in spirit; a rank band may be one rank
            if a is not None and (a >= b if strict else a > b):
                raise ValueError(f"tier {self.name}: {lo} ({a}) must be below {hi} ({b})")
        if self.market_cap_min_usd is None and self.rank_min is None:
            raise ValueError(f"tier {self.name}: give market_cap_min_usd/max_usd or rank_min/rank_max")
        return self

    def bounds(self, by: str) -> tuple[float, float]:
        """(low, high) of the tier on the `by` scale: USD market cap, or rank (1 = largest)."""
        return (self.market_cap_min_usd, self.market_cap_max_usd) if by == "usd" else (self.rank_min, self.rank_max)


class SizingSettings(_Strict):
    """Position-sizing overlays on the optimized weights (portfolio/sizing.py); all off by default (None/False).

    Each only moves weight into cash or toward lower-volatility names, never above an asset's cap."""

    target_volatility: float | None = Field(default=None, gt=0, le=5)  # annualized; scale exposure down to it
    kelly_fraction: float | None = Field(default=None, gt=0, le=1)  # exposure ≤ fraction × Kelly leverage
    max_asset_var: float | None = Field(default=None, gt=0, le=1)  # 1-day parametric VaR cap per position
    var_confidence: float = Field(default=0.95, gt=0.5, lt=1)
    regime_scaling: bool = False  # scale exposure by the month's regime (crisis → more cash, lower-vol names)
    regime_exposure: dict[str, float] = Field(default_factory=lambda: {"bull": 1.0, "sideways": 1.0, "bear": 0.8, "crisis": 0.5})
    regime_low_vol_tilt: dict[str, float] = Field(default_factory=lambda: {"bear": 0.5, "crisis": 1.0})


class RebalanceSettings(_Strict):
    """Rebalancing triggers and the trade policy (portfolio/rebalance.py)."""

    drift_threshold: float = Field(default=0.25, gt=0, le=5)  # relative: |w − target| > 25% of target
    calendar_months: int = Field(default=1, ge=1, le=12)
    high_vol_days: int = Field(default=7, ge=1, le=90)  # check interval in high-volatility regimes
    high_vol_annualized: float = Field(default=1.0, gt=0)  # market vol above this counts as high
    correlation_spike: float = Field(default=0.2, gt=0, le=2)  # recent avg correlation − baseline
    allow_sells: bool = False  # DCA: new cash first; sells only if allowed and cash cannot close the drift


class PortfolioSettings(_Strict):
    """Optimizer constraints; `infeasible_policy` says what happens when caps cannot hold the tier targets."""

    max_weight: Decimal = Field(gt=0, le=1)
    min_assets: int = Field(ge=1, le=100)
    turnover_cap: Decimal = Field(gt=0, le=1)
    infeasible_policy: Literal["relax_cap", "cash"] = "relax_cap"
    relax_headroom: Decimal = Field(default=Decimal("0.25"), ge=0, le=2)
    objective: Literal["min_volatility", "max_sharpe"] = "min_volatility"
    lookback_days: int = Field(default=365, ge=60, le=2000)
    risk_free_rate: Decimal = Field(default=Decimal("0.1075"), ge=0, le=1)
    # None: the `objective` path above (unchanged); else portfolio/methods.py with every constraint in the solver
    method: Literal["max_sharpe", "min_variance", "risk_parity", "hrp", "black_litterman", "min_cvar"] | None = None
    tier_band: Decimal = Field(default=Decimal("0"), ge=0, le=1)  # `method` path: tier share × (1 ∓ band)
    bl_view_scale: float = Field(default=0.25, ge=0, le=5)  # black_litterman: view = prior + scale · z · σ
    sizing: SizingSettings = SizingSettings()
    rebalance: RebalanceSettings = RebalanceSettings()


class AnalyticsSettings(_Strict):
    """Winsorization of daily log returns: quantiles per symbol over the feature lookback window."""

    winsor_lower_q: float = Field(default=0.01, ge=0, le=0.5)
    winsor_upper_q: float = Field(default=0.99, ge=0.5, le=1)


class ScoringWeights(_Strict):
    """Weights of the factor groups in the composite score (primary 70%, secondary 30% in the seed)."""

    momentum: Decimal = Field(default=Decimal("0.35"), ge=0, le=1)
    mean_reversion: Decimal = Field(default=Decimal("0.20"), ge=0, le=1)
    liquidity: Decimal = Field(default=Decimal("0.15"), ge=0, le=1)
    volatility_regime: Decimal = Field(default=Decimal("0.15"), ge=0, le=1)
    diversification: Decimal = Field(default=Decimal("0.15"), ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> "ScoringWeights":
        total = sum(self.model_dump().values())
        if total != 1:
            raise ValueError(f"scoring weights must sum to 1, got {total}")
        return self


class RiskSettings(_Strict):
    """Circuit breaker: stop buying while the portfolio's drawdown is beyond `max_drawdown_halt` (None = off).

    The budget keeps arriving and is carried forward; buying resumes once the drawdown recovers."""

    max_drawdown_halt: float | None = Field(default=None, gt=0, lt=1)


class VenueSettings(_Strict):
    """One exchange the router may send orders to (execution/routing.py). Keys from `{env_prefix}API_KEY` and
    `{env_prefix}API_SECRET`; fees default to `fees:`; the minimum defaults to the exchange's market limits."""

    name: str = Field(min_length=1)
    exchange_id: str = "mercadobitcoin"  # mercadobitcoin (API v4) or another ccxt id listing BRL pairs, e.g. foxbit
    api_url: str = ""
    env_prefix: str = "DCA_MB_"
    maker_fee: Decimal | None = Field(default=None, ge=0, le=Decimal("0.05"))
    taker_fee: Decimal | None = Field(default=None, ge=0, le=Decimal("0.05"))
    min_order_brl: Decimal | None = Field(default=None, gt=0)


class ExecutionSettings(_Strict):
    """Order management: spend caps enforced where orders are sent, pre-trade limits, approval and order style.

    Caps left empty default to the monthly budget (daily cap) and twice the monthly budget (monthly cap)."""

    daily_spend_cap_brl: Decimal | None = Field(default=None, gt=0)
    monthly_spend_cap_brl: Decimal | None = Field(default=None, gt=0)
    max_position_brl: Decimal | None = Field(default=None, gt=0)
    max_volume_share: float | None = Field(default=0.05, gt=0, le=1)
    max_concentration: float | None = Field(default=None, gt=0, le=1)
    approval: Literal["auto", "manual"] = "auto"
    order_style: Literal["market", "limit_then_market"] = "limit_then_market"
    limit_inside_ticks: int = Field(default=0, ge=0, le=100)
    limit_deadline_minutes: int = Field(default=60, ge=1, le=1440)
    amount_step: Decimal = Field(default=Decimal("0.00000001"), gt=0)
    min_order_brl_by_market: dict[str, Decimal] = {}
    # how the day's slice is executed by the paper broker, a backfill and the backtest (execution/intraday_fill.py):
    # market_open = one market order at the next open; twap = equal hourly slices; maker_first = limit at the bid,
    # market at the window's end
    model: Literal["market_open", "twap", "maker_first"] = "market_open"
    window_hours: int = Field(default=24, ge=1, le=24)  # the execution window from the next day's 00:00 UTC
    bar_spread_bps: float = Field(default=10, ge=0, le=1000)  # assumed bid-ask spread when only bars exist
    # live smart order routing over these venues (best net price after fees, depth and minimums); empty: Mercado
    # Bitcoin alone, as before
    venues: tuple[VenueSettings, ...] = ()


class StorageSettings(_Strict):
    """Raw-data retention in days per dataset (None = forever) and what the intraday assets capture."""

    ohlcv_1m_days: int | None = Field(default=30, ge=1)
    ohlcv_1h_days: int | None = Field(default=365, ge=1)
    ohlcv_5m_days: int | None = Field(default=90, ge=1)
    ohlcv_1d_days: int | None = Field(default=None, ge=1)
    order_book_days: int | None = Field(default=14, ge=1)
    trades_days: int | None = Field(default=90, ge=1)
    order_book_depth: int = Field(default=20, ge=1, le=500)
    intraday_symbols: tuple[str, ...] = ()  # empty: every active market of the source
    max_fill_bars_1m: int = Field(default=5, ge=0, le=1440)
    max_fill_bars_1h: int = Field(default=2, ge=0, le=24)
    max_fill_bars_5m: int = Field(default=3, ge=0, le=288)

    def retention_days(self) -> dict[str, int | None]:
        """Days to keep per Parquet dataset (None = keep forever)."""
        return {
            "ohlcv_1m": self.ohlcv_1m_days, "ohlcv_1h": self.ohlcv_1h_days, "ohlcv_1d": self.ohlcv_1d_days,
            "order_book": self.order_book_days, "trades": self.trades_days, "ohlcv_5m": self.ohlcv_5m_days,
        }


class QualitySettings(_Strict):
    """Thresholds of the data-quality gates (see docs/storage-and-quality.md)."""

    cross_source_tolerance: float = Field(default=0.05, gt=0, le=1)
    return_z_threshold: float = Field(default=10.0, gt=0)
    volume_spike_factor: float = Field(default=20.0, gt=1)
    anomaly_lookback_days: int = Field(default=90, ge=7, le=1000)
    stale_after_bars: int = Field(default=3, ge=1)
    max_quarantine_fraction: float = Field(default=0.2, ge=0, le=1)
    # more than this share of the coins the day needs (held or targeted) without a valid bar blocks the day; fewer
    # only warn (the day core skips a coin without a fresh price and the delisting policy exits one whose bars stop)
    max_missing_needed_fraction: float = Field(default=0.5, ge=0, le=1)


class FeatureFlags(_Strict):
    """Feature flags; every default keeps the current behaviour (see docs/operations.md for who reads each)."""

    optimizer_method: Literal["config", "min_volatility", "max_sharpe"] = "config"  # config: portfolio.objective
    regime_scaling: bool = False  # true: scale targets by the month's regime (= portfolio.sizing.regime_scaling)
    maker_first: bool | None = None  # true: limit at the spread then market; false: market; null: execution.order_style
    skip_buy_on_stale_prices: bool = True  # graceful degradation: no buy on stale prices, budget carried forward
    max_price_age_hours: int = Field(default=36, ge=1, le=24 * 14)


class DelistingSettings(_Strict):
    """What happens to a held coin whose prices stop (docs/execution.md, "Delisting"): once its last bar is more
    than `after_days` days before the day being planned, the whole position is exited on that day —
    `last_price` sells it at its last seen close less the taker fee (optimistic bound), `write_off` books it at
    zero (pessimistic bound). The same rule runs in the scheduled day, a backfill and the backtest."""

    policy: Literal["last_price", "write_off"] = "last_price"
    after_days: int = Field(default=7, ge=1, le=365)


class GovernanceSettings(_Strict):
    """Backups and audit: how many ledger snapshots to keep, whether config changes are audited."""

    backup_keep: int = Field(default=14, ge=1, le=3650)
    audit_config_changes: bool = True


class LstmMomentumSettings(_Strict):
    """LSTM momentum (docs/lstm_momentum.md): a small LSTM trained each month on the `train_days` before it, per-coin
    windows of `lookback_days` daily log returns → the next `horizon_days` return (volatility-scaled, relative to
    the other coins). `mode`: off (default: out of sample 2022-2025 its gain over plain momentum depended on the seed and
    the metric), replace
    (the momentum group's score is the LSTM's) or blend (`blend_weight` × LSTM + the rest × plain momentum)."""

    mode: Literal["off", "replace", "blend"] = "off"
    blend_weight: float = Field(default=0.5, gt=0, lt=1)
    lookback_days: int = Field(default=60, ge=10, le=365)
    horizon_days: int = Field(default=21, ge=1, le=120)
    train_days: int = Field(default=365, ge=30, le=2000)
    stride_days: int = Field(default=2, ge=1, le=60)  # training windows end every `stride_days` days
    hidden_size: int = Field(default=16, ge=2, le=64)
    epochs: int = Field(default=4, ge=1, le=200)
    batch_size: int = Field(default=256, ge=8, le=8192)
    learning_rate: float = Field(default=0.005, gt=0, le=1)
    seed: int = Field(default=0, ge=0)
    min_coverage: float = Field(default=0.9, gt=0, le=1)  # share of a window's returns that must exist

    def momentum_weight(self) -> float:
        """The LSTM score's share of the momentum group: 0 off, 1 replace, `blend_weight` blend."""
        return {"off": 0.0, "replace": 1.0, "blend": self.blend_weight}[self.mode]

    def history_days(self) -> int:
        """Days of bars before the month's eve the model needs (0 when off)."""
        return 0 if self.mode == "off" else self.train_days + self.lookback_days + self.horizon_days + 1


class Settings(_Strict):
    """The whole pipeline configuration."""

    budget_brl_per_month: Decimal = Field(gt=0, le=Decimal("10000000"), decimal_places=2)
    timezone: str = "America/Sao_Paulo"
    source: Literal["replay", "ccxt"] = "replay"
    broker: Literal["paper", "live"] = "paper"
    history_start: date = date(2018, 1, 1)
    fees: Fees
    slippage_bps: float = Field(default=10, ge=0, le=500)
    min_order_brl: Decimal = Field(gt=0, le=Decimal("100000"), decimal_places=2)
    excluded_bases: tuple[str, ...] = ()
    tiers: tuple[Tier, ...] = Field(min_length=1)
    # usd: tiers by market_cap_min/max_usd (the seed); rank: by rank_min/max in the month's snapshot (point in time)
    tiers_by: Literal["usd", "rank"] = "usd"
    portfolio: PortfolioSettings
    scoring: ScoringWeights = ScoringWeights()
    analytics: AnalyticsSettings = AnalyticsSettings()
    risk: RiskSettings = RiskSettings()
    connectors: "ConnectorSettings" = Field(default_factory=lambda: ConnectorSettings())
    execution: ExecutionSettings = ExecutionSettings()
    storage: StorageSettings = StorageSettings()
    quality: QualitySettings = QualitySettings()
    flags: FeatureFlags = FeatureFlags()
    delisting: DelistingSettings = DelistingSettings()
    governance: GovernanceSettings = GovernanceSettings()
    lstm_momentum: LstmMomentumSettings = LstmMomentumSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # noqa: BLE001 - zoneinfo raises several types
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _tiers_consistent(self) -> "Settings":
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        total = sum(t.allocation_target for t in self.tiers)
        if total > 1:
            raise ValueError(f"tier allocation_target values sum to {total}, which exceeds 1")
        field = "market_cap_min_usd" if self.tiers_by == "usd" else "rank_min"
        missing = [t.name for t in self.tiers if getattr(t, field) is None]
        if missing:
            raise ValueError(f"tiers_by: {self.tiers_by} needs {field} and its max on every tier; missing on {missing}")
        return self

    @model_validator(mode="after")
    def _live_execution_model(self) -> "Settings":
        problem = live_execution_problem(self.broker, self.execution)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def budget_centavos(self) -> int:
        return int(self.budget_brl_per_month * 100)

    @property
    def min_order_centavos(self) -> int:
        return int(self.min_order_brl * 100)


def live_execution_problem(broker: str, execution: ExecutionSettings) -> str | None:
    """Why `execution.model` cannot run with `broker` (None: it can). The live broker sends each order at once, in
    `execution.order_style` (market, or limit_then_market: a limit inside the spread, the rest at market after
    `limit_deadline_minutes`); `twap`'s hourly slices exist only in the paper broker, the backfill and the backtest,
    and `maker_first` is live's limit_then_market, so it needs that order style (the `maker_first` flag sets both)."""
    if broker != "live" or execution.model == "market_open":
        return None
    if execution.model == "maker_first" and execution.order_style == "limit_then_market":
        return None
    if execution.model == "maker_first":
        return ("execution.model: maker_first with broker: live needs execution.order_style: limit_then_market (the live "
                "broker's maker-first: a limit inside the spread, then market after execution.limit_deadline_minutes); "
                f"got order_style: {execution.order_style}")
    return (f"execution.model: {execution.model} is simulated only (paper broker, backfill, backtest): the live broker "
            "does not slice orders over hours and would send each at once; with broker: live use execution.model: "
            "market_open (or maker_first with order_style: limit_then_market)")


def _format_errors(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid configuration in {path}:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def read_yaml_mapping(path: Path, what: str, *, not_found: str | None = None, empty_ok: bool = False) -> dict:
    """A YAML file holding a mapping; a missing file, bad YAML or another top-level type is a ConfigError naming `what`."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(not_found or f"{what} not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping at the top level")
    return data


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate the YAML configuration (default: $DCA_CONFIG or the packaged default)."""
    cfg_path = Path(path or os.environ.get("DCA_CONFIG") or DEFAULT_CONFIG_PATH)
    raw = read_yaml_mapping(cfg_path, "configuration file")
    try:
        Settings.model_validate(raw)  # the file alone must be valid, so its own errors are reported against it
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, cfg_path)) from exc
    env = active_env()
    try:  # then the DCA_ENV=dev|paper|live overlay (dca_pipeline/environments/<env>.yaml) merged on top
        settings = Settings.model_validate(apply_env_overlay(raw, env))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, overlay_path(env))) from exc
    return resolve_flags(settings)  # feature flags switch the knobs they name


@lru_cache(maxsize=4)
def cached_settings(path: str | None = None) -> Settings:
    """Settings loaded once per process (resources call this at run time, never a module at import)."""
    return load_settings(path)


class ConnectorSettings(_Strict):
    """Live market-data connectors (used when `source: ccxt`; see docs/connectors.md). No secrets here:
    exchange keys come from DCA_<EXCHANGE>_API_KEY/_API_SECRET, CoinGecko's from DCA_COINGECKO_API_KEY."""

    exchange_id: str = "mercadobitcoin"
    base_url: str = ""
    failover_exchange_ids: tuple[str, ...] = ()
    requests_per_minute: int = Field(default=300, ge=1, le=100_000)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_base_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    min_request_interval_ms: int = Field(default=1000, ge=0, le=60_000)
    fx: Literal["replay", "ptax"] = "replay"
    ptax_base_url: str = ""
    market_caps: Literal["replay", "coingecko"] = "replay"
    coingecko_base_url: str = ""

    def resource_kwargs(self) -> dict:
        """The MarketData resource fields these settings fill."""
        out = self.model_dump()
        out["failover_exchange_ids"] = list(self.failover_exchange_ids)
        return out


Settings.model_rebuild()


# ------------------------------------------------------------------------------ environments (DCA_ENV) and flags
def active_env(environ: dict[str, str] | None = None) -> str:
    """The validated value of $DCA_ENV (default `dev`); an unknown name raises ConfigError."""
    env = (environ if environ is not None else os.environ).get("DCA_ENV", "").strip().lower() or DEFAULT_ENV
    if env not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment DCA_ENV={env!r}; allowed: {', '.join(ENVIRONMENTS)}")
    return env


def overlay_path(env: str) -> Path:
    return OVERLAY_DIR / f"{env}.yaml"


def load_overlay(env: str) -> dict[str, Any]:
    """The overlay mapping of `env` (empty when the file is empty)."""
    path = overlay_path(env)
    return read_yaml_mapping(path, "environment overlay", not_found=f"environment overlay not found for DCA_ENV={env!r}: {path}",
                             empty_ok=True)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: `overlay` on top of `base`, recursing into nested mappings (lists are replaced whole)."""
    out = deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = deepcopy(value)
    return out


def apply_env_overlay(raw: dict[str, Any], env: str | None = None) -> dict[str, Any]:
    """The raw config with the active (or given) environment's overlay merged on top."""
    return deep_merge(raw, load_overlay(env or active_env()))


def env_tags() -> dict[str, str]:
    """Run tags naming the active environment (attach to jobs so every run shows it in the UI)."""
    return {ENV_TAG: active_env()}


def env_metadata() -> dict[str, str]:
    """Asset-materialization metadata naming the active environment."""
    return {"dca_env": active_env()}


def encryption_required(env: str | None = None) -> bool:
    """Ledger encryption policy: required in paper and live, optional in dev."""
    return (env or active_env()) in ENCRYPTION_REQUIRED_ENVS


def resolve_flags(settings: Settings) -> Settings:
    """Settings with the flags applied to the knobs they switch (the same object when no flag changes anything).

    `optimizer_method` → portfolio.objective; `regime_scaling: true` → portfolio.sizing.regime_scaling;
    `maker_first` true/false → execution.order_style limit_then_market/market and execution.model maker_first /
    market_open (false keeps a configured twap off maker_first only; null keeps both as configured)."""
    flags, portfolio, execution = settings.flags, settings.portfolio, settings.execution
    if flags.optimizer_method not in ("config", portfolio.objective):
        portfolio = portfolio.model_copy(update={"objective": flags.optimizer_method})
    if flags.regime_scaling and not portfolio.sizing.regime_scaling:
        portfolio = portfolio.model_copy(update={"sizing": portfolio.sizing.model_copy(update={"regime_scaling": True})})
    if flags.maker_first is not None:
        style = "limit_then_market" if flags.maker_first else "market"
        if style != execution.order_style:
            execution = execution.model_copy(update={"order_style": style})
        model = "maker_first" if flags.maker_first else "market_open"  # the paper broker's and the backtest's model too
        if flags.maker_first != (execution.model == "maker_first"):
            execution = execution.model_copy(update={"model": model})
    if portfolio is settings.portfolio and execution is settings.execution:
        return settings
    return settings.model_copy(update={"portfolio": portfolio, "execution": execution})
