"""dca_pipeline: a Dagster project that turns a monthly BRL budget into daily DCA buys of small/mid-cap crypto."""
