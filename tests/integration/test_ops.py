"""/healthz (portal/controllers/ops.py)."""

from tests.integration.conftest import client_of


async def test_healthz_answers_200_when_the_database_answers(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_healthz_answers_503_when_the_database_does_not(database, tmp_root):
    broken = database.__class__(database_url=f"sqlite:///{tmp_root}/missing-dir/none.db")
    async with client_of(broken) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
