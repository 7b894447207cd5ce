"""Prometheus metrics of one API process (``/metrics``).

With ``vault up --workers N`` each worker answers with its own counters; the batcher's
figures (seal latency, TSA errors) come from the process that runs the batcher.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, pending: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.deposits = Counter("vault_deposits", "Items deposited", ["kind"], registry=self.registry)
        self.deposit_bytes = Counter("vault_deposit_bytes", "Payload bytes deposited", ["kind"], registry=self.registry)
        self.pending = Gauge(
            "vault_pending_items", "Items and journal entries waiting for a batch", registry=self.registry
        )
        self.pending.set_function(pending)
        self.seal_seconds = Histogram(
            "vault_batch_seal_seconds",
            "Time to seal and timestamp one batch",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.audit_problems = Gauge(
            "vault_audit_problems",
            "Problems found by the last completeness audit of this process",
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "vault_upload_bytes_received", "Body bytes read by tus PATCHes (/v1/uploads)", registry=self.registry
        )
        self.upload_discarded = Counter(
            "vault_upload_bytes_discarded",
            "Of those, bytes thrown away (checksum mismatch, refused or failed PATCH)",
            registry=self.registry,
        )
        self.tsa_errors = Counter("vault_tsa_errors", "Batches whose time-stamping failed", registry=self.registry)
        self.requests = Counter(
            "vault_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
