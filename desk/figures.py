"""Rates with their uncertainty: the Wilson score interval of a share (hits among inspections),
which stays inside [0, 1] and behaves with few inspections or none found, as a normal
approximation does not."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None, float | None]:
    """``k`` of ``n``: the share and its (by default 95 %) interval; (None, None, None) for n = 0."""
    if n <= 0:
        return None, None, None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)
