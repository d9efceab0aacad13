"""A notification body after a wall-clock step (issue 11, point 8): wall times for people,
the engine's steady times for the outbox dedup."""

from __future__ import annotations

from sample_notification import fibre_cut

from borderwatch.alerts.notify.message import notification_from_dict
from borderwatch.alerts.notify.outbox import dedup_key


def test_a_body_shows_wall_times_and_keeps_the_steady_ones_for_dedup() -> None:
    """After a step the body's times move by the clocks' offset (what people read), the
    notifiers rebuild it (telegram, e-mail), and the outbox dedup key does not move."""
    n = fibre_cut()
    plain, stepped = n.to_dict(), n.to_dict(wall_offset=-3600.0)
    assert stepped["since"] == n.since - 3600 and stepped["at"] == n.at - 3600
    assert [p["observed_at"] for p in stepped["power"]] == \
        [p.observed_at - 3600 for p in n.power]
    back = notification_from_dict(stepped)
    assert (back.since, back.at) == (n.since - 3600, n.at - 3600)
    assert dedup_key(stepped) == dedup_key(plain)
