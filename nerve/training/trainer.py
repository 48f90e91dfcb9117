"""``Trainer``: compile / fit / evaluate / predict, mixed into ``nerve.Model``."""

from __future__ import annotations


class Trainer:
    """Placeholder until the training loop lands; ``Model`` inherits from it."""
