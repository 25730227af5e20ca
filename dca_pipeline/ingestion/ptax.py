"""USD/BRL from the Banco Central do Brasil PTAX (Olinda open data), falling back to the bundled series.

Uses `cotacaoVenda` (PTAX venda, the sell quote of the day's closing bulletin), as the bundle does since
2021-05-19. Output is the frame of `ReplaySource.fetch_fx_usd_brl`: calendar days, forward-filled.
"""
from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta

import polars as pl

from dca_pipeline.ingestion import bundle
from dca_pipeline.ingestion.errors import SourceError
from dca_pipeline.ingestion.fx import daily_fx
from dca_pipeline.ingestion.http_json import JsonHttpClient

OLINDA_URL = "https://olinda.bcb.gov.br/olinda/servico/PTAX/versao/v1/odata"
ENDPOINT = "CotacaoDolarPeriodo(dataInicial=@dataInicial,dataFinalCotacao=@dataFinalCotacao)"
LOOKBACK_DAYS = 10  # a rate published before `start` is needed when start is a weekend or holiday


def parse_ptax(payload: object) -> pl.DataFrame:
    """Olinda's {"value": [{cotacaoVenda, dataHoraCotacao, ...}]} → date, usd_brl, source (last bulletin of each day)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        raise ValueError("PTAX answer has no 'value' list")
    rows = [(datetime.fromisoformat(v["dataHoraCotacao"][:19]).date(), float(v["cotacaoVenda"])) for v in payload["value"]]
    frame = pl.DataFrame(rows, schema={"date": pl.Date, "usd_brl": pl.Float64}, orient="row")
    return frame.group_by("date").agg(pl.col("usd_brl").last()).sort("date").with_columns(pl.lit("bcb_ptax_venda").alias("source"))


class PtaxSource:
    """Live PTAX venda; on failure the bundled series serves, and `warnings_` records why."""

    name = "bcb_ptax"

    def __init__(self, client: JsonHttpClient | None = None, base_url: str = OLINDA_URL, fallback: bool = True) -> None:
        self.client = client or JsonHttpClient(self.name)
        self.base_url, self.fallback = base_url.rstrip("/"), fallback
        self.warnings_: list[str] = []
        self.served_by: str | None = None

    def published(self, start: date, end: date) -> pl.DataFrame:
        """PTAX venda for each business day in [start, end] as published by the BCB."""
        query = f"@dataInicial='{start:%m-%d-%Y}'&@dataFinalCotacao='{end:%m-%d-%Y}'&$format=json&$select=cotacaoCompra,cotacaoVenda,dataHoraCotacao"
        until = end + timedelta(days=1)  # errors show half-open ranges
        payload = self.client.get(f"{self.base_url}/{ENDPOINT}", query, "fetch PTAX venda", "USD/BRL", start, until)
        try:
            return parse_ptax(payload)
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(self.name, "parse PTAX venda", "USD/BRL", start, until, str(exc)) from exc

    def fetch_fx_usd_brl(self, start: date, end: date) -> pl.DataFrame:
        """USD/BRL for every calendar day in [start, end], forward-filled (`is_filled`, `rate_date`)."""
        try:
            published = self.published(start - timedelta(days=LOOKBACK_DAYS), end)
            self.served_by = self.name
        except SourceError as exc:
            if not self.fallback:
                raise SourceError(self.name, "USD/BRL for", "USD/BRL", start, end + timedelta(days=1), str(exc)) from exc
            message = f"PTAX unavailable, using the bundled USD/BRL series: {exc}"
            self.warnings_.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            published = bundle.usd_brl_published().filter(pl.col("date") <= end)
            self.served_by = "bundle"
        return daily_fx(published, start, end)
