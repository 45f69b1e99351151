"""The registration journey through Litestar's test client (portal/controllers/registration.py)."""

from tests.integration.registration_flow import Applicant, error_messages, h1


async def test_happy_path_without_javascript(client, smtp):
    a = Applicant(client, smtp)
    r = await a.accept_terms()
    assert r.status_code == 303 and r.headers["location"] == "/register/personal"
    r = await client.get("/register/personal")
    assert h1(r.text) == "Step 1 of 6: New User Registration"
    r = await a.personal()
    assert r.status_code == 303 and r.headers["location"] == "/register/verify", error_messages(r.text)
    r = await client.get("/register/verify")
    assert h1(r.text) == "Step 2 of 6: Email Verification"
    r = await a.verify()
    assert r.status_code == 303 and r.headers["location"] == "/register/contact", r.text
    r = await client.get("/register/contact")
    assert h1(r.text) == "Step 3 of 6: Contact Information"
    r = await a.contact()
    assert r.status_code == 303 and r.headers["location"] == "/register/questions", r.text
    r = await a.questions()
    assert r.status_code == 303 and r.headers["location"] == "/register/review", r.text
    r = await client.get("/register/review")
    assert h1(r.text) == "Step 5 of 6: Review Details"
    assert "•••••6789" in r.text and "123-45-6789" not in r.text
    r = await a.submit()
    assert r.status_code == 200
    assert h1(r.text) == "Step 6 of 6: Acknowledgement"


async def test_review_inline_edit_with_htmx(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    hx = {"HX-Request": "true"}
    r = await client.get("/register/review/contact/edit", headers=hx)
    assert r.status_code == 200, r.text
    assert 'id="organization"' in r.text


async def test_status_page_renders(client):
    r = await client.get("/status")
    assert r.status_code == 200, r.text[-3000:]
