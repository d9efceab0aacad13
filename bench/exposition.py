"""Reading figures back from a Prometheus text exposition (the client side of the bench)."""

from __future__ import annotations

import math


class Parsed:
    """Samples of an exposition by name, parsed once (560k lines take ~1 s; the client
    shares the 2 cores with the service it measures, so it must not parse repeatedly)."""

    def __init__(self, text: str, names: set[str] | None = None) -> None:
        self.by_name: dict[str, list[tuple[str, float]]] = {}
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            brace = line.find("{")
            if brace >= 0:
                name = line[:brace]
                if names is not None and name not in names:
                    continue
                labels, _, rest = line[brace + 1:].rpartition("} ")
            else:
                name, _, rest = line.partition(" ")
                if names is not None and name not in names:
                    continue
                labels = ""
            self.by_name.setdefault(name, []).append((labels, float(rest.split()[0])))

    def samples(self, name: str) -> list[tuple[str, float]]:
        """(label text, value) of every sample named exactly `name`."""
        return self.by_name.get(name, [])


def _parsed(text: str | Parsed, name: str) -> Parsed:
    return text if isinstance(text, Parsed) else Parsed(text, {name})


def samples(text: str | Parsed, name: str) -> list[tuple[str, float]]:
    """(label text, value) of every sample named exactly `name`."""
    return _parsed(text, name).samples(name)


def sum_metric(text: str | Parsed, name: str) -> float:
    """Sum of every sample named `name` (0 if none)."""
    return sum(v for _, v in samples(text, name))


def value(text: str | Parsed, name: str) -> float | None:
    """The value of an unlabelled sample, None if absent."""
    for labels, v in samples(text, name):
        if not labels:
            return v
    return None


def buckets(text: str | Parsed, name: str) -> list[tuple[float, float]]:
    """Cumulative (le, count) pairs of an unlabelled histogram `name`, sorted by le."""
    out = []
    for labels, v in samples(text, name + "_bucket"):
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        out.append((math.inf if le == "+Inf" else float(le), v))
    return sorted(out)


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """histogram_quantile() as Prometheus computes it (linear within a bucket).

    Works on bucket deltas too (pass differences of two scrapes' counts). Returns the
    lower bound of +Inf's bucket when the quantile falls there, None without data.
    """
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / \
                (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def delta(after: list[tuple[float, float]], before: list[tuple[float, float]]
          ) -> list[tuple[float, float]]:
    """Bucket counts observed between two scrapes of the same histogram."""
    old = dict(before)
    return [(le, count - old.get(le, 0.0)) for le, count in after]
