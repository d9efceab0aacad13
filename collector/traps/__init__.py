"""The SNMP trap and inform receiver: decode and authenticate (`message`, `usm_receiver`),
the network side with its limits (`receiver`), what a trap means for the state (`mapping`),
and the wiring into a running service (`service_hook`)."""
