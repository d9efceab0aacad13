"""The borderwatch application: the one place that wires every layer together.

The console script (`cli.py`), the running service (`service.py`: inventory → sessions →
poller → state → exporters, alerts, history, traps, reload) and the whole-configuration
check (`check.py`) compose the layers below; nothing below imports this package (see
docs/architecture.md, "Layers").
"""
