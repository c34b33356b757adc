"""Prometheus metrics, served at /metrics in webhook mode.

Each Application has its own registry, so several bots (tests, restarts) can live in
one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "civicbot_updates", "Telegram updates handled", ["type"], registry=self.registry
        )
        self.handling_seconds = Histogram(
            "civicbot_update_handling_seconds",
            "Time to handle one update",
            ["type"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.submissions = Counter(
            "civicbot_submissions",
            "Proposals and questions received",
            ["kind"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "civicbot_deliveries",
            "Notice deliveries by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.too_many_requests = Counter(
            "civicbot_telegram_429",
            "429 Too Many Requests answers from Telegram",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
