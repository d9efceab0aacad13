"""The `borderwatch` CLI with the inventory loader's value cap raised, for the benchmarks.

collector/inventory/yaml_lines.py refuses a document of more than MAX_VALUES (100,000)
YAML values as a possible alias bomb. A plain 10,000-device inventory holds ~130,000
(about 13 per device), so `borderwatch run` refuses it. Until that limit is changed
(see bench/README.md), the scale run lifts it here; nothing else differs from
`python -m collector.cli`, unless BWBENCH_PROPOSALS=1 applies bench/proposals.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.inventory import yaml_lines

yaml_lines.MAX_VALUES = 5_000_000
if os.environ.get("BWBENCH_PROPOSALS") == "1":
    import proposals

    proposals.apply_all()

from collector.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
