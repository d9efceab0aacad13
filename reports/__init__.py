"""Planners' reports over the collector's history (see reports/README.md)."""
