"""Tests mirroring dca_pipeline."""
