"""A scraper standing in for Prometheus: ``/metrics`` over HTTP every 15 s with ``Accept-Encoding:
gzip``, timed from the request to the last byte, in a thread of the measured process (its own CPU is
recorded so the benchmark can take it out of Kanari's)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from bench.procstat import percentile

# Prometheus's default scrape interval.
SCRAPE_EVERY = 15.0


class Scraper(threading.Thread):
    """Gets ``/metrics`` like Prometheus (gzip) every :data:`SCRAPE_EVERY` seconds until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(name="scraper", daemon=True)
        self.url = url
        self.seconds: list[float] = []
        self.sizes: list[int] = []
        self.encoded_sizes: list[int] = []
        self.series = 0
        # (wall-clock start, this thread's CPU seconds) of every scrape.
        self.costs: list[tuple[float, float]] = []
        self._finished = threading.Event()

    def run(self) -> None:
        """Scrape until :meth:`finish`."""
        with httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=30) as client:
            while not self._finished.wait(SCRAPE_EVERY):
                at, cpu = time.time(), time.thread_time()
                began = time.perf_counter()
                with client.stream("GET", f"{self.url}/metrics") as response:
                    encoded = b"".join(response.iter_raw())
                self.seconds.append(time.perf_counter() - began)
                self.encoded_sizes.append(len(encoded))
                # Decoding is the scraper's work, not the probe's: outside the timing, in the same thread.
                body = httpx.Response(200, headers=response.headers, content=encoded).content
                self.sizes.append(len(body))
                self.series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
                self.costs.append((at, time.thread_time() - cpu))

    def cpu_between(self, since: float, until: float) -> float:
        """This thread's CPU in the scrapes that began in ``[since, until)``."""
        return sum(cpu for at, cpu in self.costs if since <= at < until)

    def finish(self) -> None:
        """Stop after the scrape under way."""
        self._finished.set()
        self.join()

    def figures(self) -> dict[str, Any]:
        """Latency and size of every scrape."""
        return {
            "scrapes": len(self.seconds),
            "seconds": self.seconds,
            "p50_seconds": percentile(self.seconds, 0.50),
            "p99_seconds": percentile(self.seconds, 0.99),
            "bytes": max(self.sizes, default=0),
            "gzip_bytes": max(self.encoded_sizes, default=0),
            "series": self.series,
        }
