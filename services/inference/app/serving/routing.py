"""Canary / A-B routing: which variant answers a request.

A request key (a header, by default ``X-Request-Key``) is hashed to a point in [0, 1); keys below the canary
fraction go to the challenger. The same key therefore always meets the same variant (sticky), and the
split needs no shared state between workers. Requests without a key are split at random. The same rule
routes ``/ask`` between the promoted knowledge index and a canary index (:mod:`.knowledge`).
"""

from __future__ import annotations

import hashlib
import random
from typing import TypeVar

CHAMPION = "champion"
CHALLENGER = "challenger"


def key_point(key: str) -> float:
    """A stable point in [0, 1) for ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


Served = TypeVar("Served")  # a model, or a knowledge index


def choose(
    champion: Served,
    challenger: Served | None,
    fraction: float,
    key: str | None,
) -> tuple[Served, str]:
    if challenger is None or fraction <= 0:
        return champion, CHAMPION
    point = key_point(key) if key else random.random()
    return (challenger, CHALLENGER) if point < fraction else (champion, CHAMPION)
