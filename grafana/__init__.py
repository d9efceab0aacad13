"""Grafana provisioning and dashboards for borderwatch, generated from one Python source."""
