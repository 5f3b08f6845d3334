"""BLAS thread control (threadpoolctl).

The matrix products of the exact-enumeration code are small (a minibatch or a table of
states times ``W``); a threaded BLAS that shares the cores with numba's sampler threads
spin-waits and can be 50x slower, and one thread also fixes the summation order.
"""
from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@functools.cache
def _controller() -> ThreadpoolController:
    # created on first use (after numpy and scipy have loaded their BLAS) and then reused:
    # inspecting the loaded libraries costs about a millisecond
    return ThreadpoolController()


def one_blas_thread(fn):
    """Decorator: run ``fn`` with every BLAS library limited to one thread (restored afterwards)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper
