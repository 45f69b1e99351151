"""/healthz (portal/controllers/ops.py)."""

from tests.integration.conftest import checked_client


async def test_healthz_answers_200_when_the_database_answers(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_healthz_answers_503_when_the_database_does_not(database, tmp_root):
    from portal.app import create_app
    from portal.models.db import bind, current_engine

    good = current_engine()
    broken = database.__class__(database_url=f"sqlite:///{tmp_root}/missing-dir/none.db")
    try:
        async with checked_client(create_app(broken)) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503
    finally:
        bind(good)
