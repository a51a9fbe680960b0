"""A bounded inference pool: ``workers`` threads, each with its own pipeline (the detectors and
ONNX sessions are not shared between threads), and at most ``queue`` calls waiting. A call that
finds the pool full is refused at once (429), one that takes longer than the timeout gets 504."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from facenet.service.errors import ApiError

T = TypeVar("T")


class InferencePool:
    """factory() -> a new pipeline (called once in each worker thread). run(fn, *args) awaits
    fn(pipeline, *args) on a worker."""

    def __init__(self, factory: Callable[[], Any], workers: int, queue: int, timeout: float) -> None:
        self._factory = factory
        self._local = threading.local()
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facenet-infer")
        self.workers, self.queue, self.timeout = workers, queue, timeout
        self._busy = 0
        self._lock = threading.Lock()

    def _pipeline(self) -> Any:
        p = getattr(self._local, "pipeline", None)
        if p is None:
            p = self._local.pipeline = self._factory()
        return p

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        return fn(self._pipeline(), *args)

    def _release(self, _fut: Any = None) -> None:
        with self._lock:
            self._busy -= 1
        self._slots.release()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise ApiError(429, "busy", f"the inference pool is full ({self.workers} running, {self.queue} waiting); "
                                        "retry shortly", headers={"Retry-After": "1"})
        with self._lock:
            self._busy += 1
        try:
            fut = self._executor.submit(self._call, fn, args)
        except BaseException:
            self._release()
            raise
        fut.add_done_callback(self._release)  # finished, failed or cancelled while waiting: the slot comes back
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"the request took longer than {self.timeout:g} s") from None

    def in_use(self) -> int:
        """Calls running or waiting now."""
        with self._lock:
            return self._busy

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
