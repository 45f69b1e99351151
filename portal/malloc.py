"""glibc's allocator set for a long-lived server process (each web worker, the mail worker).

An argon2id hash allocates one 19 MiB block (hashing.py). glibc serves a block that large with
its own mmap and unmaps it on free, but then raises its mmap threshold to the freed block's size
(and the trim threshold to twice that): from the first hash on, every block up to 19 MiB, in
every thread, comes from the arenas' heaps, and up to 38 MiB free at a heap's top is kept. A
worker's main heap then fills with the event loop's short-lived large buffers between long-lived
small objects, cannot be given back, and the argon2 thread's arena keeps the 19 MiB block. Measured
with bench/memory.py (uvicorn, 2 workers, 16 applicants at once): one worker went from 106 MiB to
225 MiB in its first 250 registrations, its main heap from 27 MiB to 125 MiB, and went on growing.

Fixing the thresholds at glibc's defaults (128 KiB to map a block, 128 KiB free at a heap's top
to trim it) stops the raise: the hash's block is mapped and unmapped each time, and large
buffers never sit in a heap (measured: the main heap then stayed at 23 MiB through 1,000
registrations; MALLOC_ARENA_MAX=2 alone left a worker at 223 MiB). At most two arenas (the
main one and one that the threads share): each arena a thread makes keeps its own free memory
(up to 64 MiB reserved, what it touched resident), and this process's threads (argon2, the
event loop's resolver, anyio's) only borrow memory for a call at a time.

mallopt is called at the start of the process, before its threads: thresholds are global, the
arena cap applies to arenas made after it. Environment variables (MALLOC_ARENA_MAX...) would do
the same only in processes started with them; this way every worker has it however it is
started (``python -m portal serve``, uvicorn or gunicorn directly, the tests).
"""

from __future__ import annotations

import ctypes
import sys

# <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 128 * 1024
TRIM_THRESHOLD = 128 * 1024
ARENA_MAX = 2

_tuned = False


def tune() -> bool:
    """Fix glibc's thresholds and cap its arenas (once per process); False where the C library
    is not glibc (nothing to do: musl and the BSDs' allocators do not keep a raised threshold)."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # no mallopt: not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _tuned = all(
        mallopt(option, value) == 1
        for option, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_ARENA_MAX, ARENA_MAX),
        )
    )
    return _tuned
