"""The load ``make bench-http`` offers: an asyncio client (aiohttp) in two shapes.

- closed loop: N requests kept ``concurrency`` in flight, each sent as soon as one returns;
- paced: requests sent at a fixed rate whatever the server does (open loop), for latency at a
  load where nothing queues.

Each response is kept with the wall-clock time its request was sent, so the harness can set it
against the database's own timestamps (when the execution finished).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `make test` runs this package's pure parts without the bench extra
    import aiohttp

# (url, JSON body, headers) of the i-th request.
RequestFactory = Callable[[int], tuple[str, Any, dict[str, str]]]


@dataclass
class Response:
    """One request's outcome: when it was sent (wall clock), how long it took, what came back."""

    index: int
    sent_at: float
    seconds: float
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class LoadResult:
    responses: list[Response]
    started_at: float  # wall clock of the first send
    finished_at: float  # wall clock of the last response

    @property
    def ok(self) -> list[Response]:
        return [r for r in self.responses if 200 <= r.status < 300]

    @property
    def failed(self) -> list[Response]:
        return [r for r in self.responses if not 200 <= r.status < 300]


async def _send(session: aiohttp.ClientSession, make: RequestFactory, index: int) -> Response:
    url, payload, headers = make(index)
    data = json.dumps(payload).encode()
    import aiohttp

    sent_at, started = time.time(), time.perf_counter()
    try:
        async with session.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as resp:
            body = await resp.read()
            status = resp.status
    except aiohttp.ClientError as exc:
        body, status = str(exc).encode(), 0
    return Response(index, sent_at, time.perf_counter() - started, status, body)


def _session(concurrency: int) -> aiohttp.ClientSession:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=120)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout)


async def _closed(make: RequestFactory, n: int, concurrency: int, first: int) -> LoadResult:
    indexes = iter(range(first, first + n))
    responses: list[Response] = []
    async with _session(concurrency) as session:

        async def client() -> None:
            for index in indexes:  # one shared iterator: each index is sent once
                responses.append(await _send(session, make, index))

        started = time.time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return LoadResult(responses, started, time.time())


async def _paced(make: RequestFactory, n: int, rate: float, first: int) -> LoadResult:
    async with _session(max(8, int(rate * 4))) as session:
        started, origin = time.time(), time.perf_counter()
        tasks = []
        for i in range(n):
            delay = origin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(session, make, first + i)))
        responses = list(await asyncio.gather(*tasks))
        return LoadResult(responses, started, time.time())


def closed_loop(make: RequestFactory, n: int, concurrency: int, first: int = 0) -> LoadResult:
    """Send ``n`` requests with ``concurrency`` in flight; indexes ``first``..``first + n - 1``."""
    return asyncio.run(_closed(make, n, concurrency, first))


def paced(make: RequestFactory, n: int, rate: float, first: int = 0) -> LoadResult:
    """Send ``n`` requests at ``rate`` per second, not waiting for responses to send the next."""
    return asyncio.run(_paced(make, n, rate, first))
