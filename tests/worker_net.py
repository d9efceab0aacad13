"""Each pytest-xdist worker's own alert-quality network: imported by conftest.py first.

lab.quality reads BW_QUALITY_NET once, at import, and the modules of two workers that use
it (the alert-quality scenarios, the trap-to-page lab, the status-map lab, the live fibre
cut) would otherwise start agents on the same addresses at the same time. Worker gwN gets
the caller's /24 with the third octet + N (lab.quality_net.worker_net): `BW_QUALITY_NET=
127.0.21 make test` uses 127.0.21 and 127.0.22, the default 127.0.3 and 127.0.4. Outside
xdist nothing changes.
"""

from __future__ import annotations

import os
import re

from borderwatch.lab.quality_net import VARIABLE, quality_net, worker_net

_worker = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
if _worker:
    os.environ[VARIABLE] = worker_net(quality_net(os.environ), int(_worker[1]))
