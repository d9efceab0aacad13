"""Alerts that page once per incident: topology-aware root cause, rules, a pure engine."""
