"""borderwatch exporters: views over collector state (Prometheus, later InfluxDB)."""
