"""glibc's allocator as every server process sets it (portal/malloc.py): each probe runs in a
process of its own, since the settings are process-wide and cannot be undone."""

from __future__ import annotations

import json
import subprocess
import sys

from portal import malloc

PROBE = """
import ctypes, json, re, sys, tempfile, threading
from portal import malloc

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


libc.mallinfo2.restype = Mallinfo2
tuned = sys.argv[1] == "tuned" and malloc.tune()

# What an argon2id hash does: one 19 MiB block, freed. Then a 1 MiB buffer: mapped of its own?
libc.free(libc.malloc(19 * 1024 * 1024))
before = libc.mallinfo2().hblks
block = libc.malloc(1024 * 1024)
mapped = libc.mallinfo2().hblks - before
libc.free(block)

# Eight threads that allocate at once: how many arenas serve them?
start, done = threading.Barrier(8), threading.Barrier(8)

def allocate():
    start.wait()
    held = [libc.malloc(4096) for _ in range(64)]
    done.wait()
    for p in held:
        libc.free(p)

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.NamedTemporaryFile() as out:
    fp = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    arenas = len(re.findall(r'<heap nr="', open(out.name).read()))
print(json.dumps({"tuned": tuned, "mapped": mapped, "arenas": arenas}))
"""


def probe(mode: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_a_block_over_the_threshold_is_mapped_after_a_hash_sized_block_was_freed():
    """Untuned, freeing the 19 MiB block raises glibc's threshold and the 1 MiB buffer lands in a
    heap; tuned, it is mapped (and unmapped when freed)."""
    assert probe("default")["mapped"] == 0
    tuned = probe("tuned")
    assert tuned["tuned"] and tuned["mapped"] == 1


def test_the_threads_share_at_most_the_arena_cap():
    assert probe("default")["arenas"] > malloc.ARENA_MAX
    assert probe("tuned")["arenas"] <= malloc.ARENA_MAX


def test_tuning_twice_is_harmless():
    assert malloc.tune() and malloc.tune()
