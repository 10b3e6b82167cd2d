"""Running pyHanko's coroutines from synchronous code, also when an event loop is running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Return the result of the coroutine factory() makes, run to completion.

    asyncio.run refuses to start inside a running loop (the SMTP listener's), so there the
    coroutine runs on a loop of its own in a worker thread while the caller waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
