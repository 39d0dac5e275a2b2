"""Datasets and tables: discovery, metadata, extraction engines, the Parquet store, streaming, training rows."""
