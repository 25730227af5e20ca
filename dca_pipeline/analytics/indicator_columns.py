"""The indicator suite's output columns, in the order the compiled kernels write them (shared by
`indicators.compute_indicators` and `indicator_kernels`, which import nothing else from each other)."""

INDICATOR_COLUMNS = (
    "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "adx_14", "plus_di_14",
    "minus_di_14", "rsi_14", "stoch_k", "stoch_d", "williams_r_14", "roc_12", "bb_mid", "bb_upper", "bb_lower",
    "bb_pctb", "bb_width", "atr_14", "vwap_14", "obv", "adl",
)
