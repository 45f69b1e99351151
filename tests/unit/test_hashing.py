"""argon2id hashing: off the event loop, one hash at a time per process, answers normalised."""

from __future__ import annotations

import asyncio
import threading

from argon2 import Type, extract_parameters

from portal.hashing import answers_secret, hash_secret, normalise_answer, verify_secret


async def test_hashes_run_off_the_loop_one_at_a_time():
    seen: list[int] = []  # hashing threads alive, sampled by the loop while the hashes run

    async def watch():
        while len(seen) < 200:
            seen.append(sum(t.name.startswith("argon2") for t in threading.enumerate()))
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    hashes = await asyncio.gather(*(hash_secret(f"secret number {i}") for i in range(4)))
    watcher.cancel()
    assert max(seen) == 1  # four at once still share one hashing thread
    assert len(seen) > 4  # and the loop kept running meanwhile (it would not, hashing on it)
    params = extract_parameters(hashes[0])
    assert (params.type, params.memory_cost, params.time_cost, params.parallelism) == (Type.ID, 19 * 1024, 2, 1)
    assert await verify_secret(hashes[2], "secret number 2")
    assert not await verify_secret(hashes[2], "secret number 3")
    assert not await verify_secret("not a hash", "secret number 3")


def test_answers_normalise_case_spacing_and_width():
    assert normalise_answer("  Maple   AVENUE ") == normalise_answer("maple avenue") == "maple avenue"
    assert normalise_answer("Ｍａｐｌｅ") == "maple"  # full-width letters (NFKC)
    assert normalise_answer("STRASSE") == normalise_answer("straße")  # casefold


def test_the_answers_secret_normalises_each_answer_and_keeps_every_pair_apart():
    pairs = [("first-school", "  Lincoln   ELEMENTARY"), ("first-car", "Ford")]
    assert answers_secret(pairs) == answers_secret([("first-school", "lincoln elementary"), ("first-car", "ford")])
    # Where one answer ends and the next begins is never ambiguous, whatever the answers hold.
    assert answers_secret([("a", 'x", "b'), ("c", "y")]) != answers_secret([("a", "x"), ("b", '", "c y')])
    assert answers_secret(pairs) != answers_secret(pairs[::-1])  # an answer belongs to its question
    assert answers_secret([("first-school", "Zoë 李")]) == '[["first-school", "zoë 李"]]'
