"""SNMP layer: one session interface over a compact v1/v2c codec and pysnmp for v3."""
