"""Precision-marketing warehouse: synthetic raw data, dbt+DuckDB models and customer scores."""
