"""Resolve the receivers' secrets (SMTP passwords, Telegram bot tokens) into `Secret`s.

The same sources as the SNMP credentials and the Influx token: `*_env` (an environment
variable) or `*_file` (relative to the inventory's directory; one trailing newline
dropped), inline discouraged. Messages name the receiver, field and source, never the
value. Run when the alert service starts, with the environment the service runs in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from borderwatch.collector.inventory.models import Alerts
from borderwatch.collector.inventory.secrets import (
    _read_file,  # the shared reader: size, mode, UTF-8
)
from borderwatch.collector.secret import Secret

log = logging.getLogger(__name__)

# receiver list in `alerts:` → the secret field of its entries
SECRET_FIELDS = {"email": "password", "telegram": "token"}


class SecretError(ValueError):
    """A receiver's secret cannot be read (every problem, value never shown)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _resolve_one(where: str, field: str, item: Any, env: Mapping[str, str], base_dir: Path,
                 problems: list[str]) -> Secret | None:
    inline: Secret | None = getattr(item, field)
    env_name: str | None = getattr(item, f"{field}_env")
    file_name: str | None = getattr(item, f"{field}_file")
    if env_name is not None:
        text = env.get(env_name)
        if not text:
            problems.append(f"{where}.{field}_env: environment variable {env_name} is "
                            f"{'empty' if text == '' else 'not set'}")
            return None
        return Secret(text, source=f"environment variable {env_name}")
    if file_name is not None:
        path = Path(file_name).expanduser()
        path = path if path.is_absolute() else base_dir / path
        text, error, warning = _read_file(path, str(path))
        if warning:
            log.warning("%s.%s_file: %s", where, field, warning)  # names the file, not the value
        if error or text is None:
            problems.append(f"{where}.{field}_file: {error}")
            return None
        return Secret(text, source=f"file {path}")
    return inline


def resolve_receiver_secrets(alerts: Alerts, *, base_dir: Path,
                             env: Mapping[str, str] | None = None) -> Alerts:
    """The `alerts:` section with every receiver secret as a `Secret` (SecretError if not)."""
    env = os.environ if env is None else env
    problems: list[str] = []
    update: dict[str, tuple[Any, ...]] = {}
    for section, field in SECRET_FIELDS.items():
        items = []
        for i, item in enumerate(getattr(alerts, section)):
            where = f"alerts.{section}[{i}] ({item.name})"
            secret = _resolve_one(where, field, item, env, base_dir, problems)
            items.append(item.model_copy(update={field: secret}))
        update[section] = tuple(items)
    if problems:
        raise SecretError(problems)
    return alerts.model_copy(update=update)
