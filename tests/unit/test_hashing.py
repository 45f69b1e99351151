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


async def test_a_random_secret_is_salted_sha256_and_its_check_still_costs_one_argon2id(monkeypatch):
    import portal.hashing
    from portal.hashing import DUMMY_HASH, hash_random_secret

    hashed = hash_random_secret("k7Hq2-XmP9r-abcde-FGHJK")
    assert hashed.startswith("$sha256$") and hashed != hash_random_secret("k7Hq2-XmP9r-abcde-FGHJK")  # salted
    checked: list[str] = []

    class CountingHasher(type(portal.hashing.HASHER)):
        def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
            checked.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(portal.hashing, "HASHER", CountingHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1))
    assert await verify_secret(hashed, "k7Hq2-XmP9r-abcde-FGHJK")
    assert not await verify_secret(hashed, "k7Hq2-XmP9r-abcde-FGHJk")
    assert not await verify_secret(hashed.replace("$sha256$", "$sha256$0"), "k7Hq2-XmP9r-abcde-FGHJK")
    assert checked == [DUMMY_HASH] * 3  # the same one argon2id check as any password's
