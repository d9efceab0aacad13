"""The built-in lab: simulated SNMP agents (snmpsim) for every device of an inventory."""
