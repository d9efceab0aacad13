"""Which /24 of loopback the alert-quality network (lab.quality) uses: BW_QUALITY_NET.

Its own module, with no import-time side effects, so that the test suite can give each
pytest-xdist worker a /24 of its own (tests/worker_net.py) before lab.quality reads the
variable. Two suites side by side (two engineers' checkouts, two workers) each need one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLE = "BW_QUALITY_NET"
DEFAULT = "127.0.3"  # away from the repository inventory's 127.0.0.10-99


def quality_net(env: Mapping[str, str]) -> str:
    """The three octets in `env` (default DEFAULT); ValueError names the variable."""
    net = env.get(VARIABLE, DEFAULT)
    if not re.fullmatch(r"127\.\d{1,3}\.\d{1,3}", net) or \
            any(int(o) > 255 for o in net.split(".")):
        raise ValueError(f"{VARIABLE}={net!r}: expected three octets of 127.0.0.0/8, "
                         "e.g. 127.0.5")
    return net


def worker_net(base: str, worker: int) -> str:
    """Worker n's /24: the base's third octet + n (127.0.21 → gw0 127.0.21, gw1 127.0.22),
    so that the workers of one run stay inside the block its caller chose."""
    first, second, third = base.split(".")
    if int(third) + worker > 255:
        raise ValueError(f"{VARIABLE}={base!r}: no room for worker {worker} "
                         f"({third} + {worker} > 255)")
    return f"{first}.{second}.{int(third) + worker}"
