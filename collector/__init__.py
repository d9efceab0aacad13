"""borderwatch collector: inventory → SNMP polling → device state."""
