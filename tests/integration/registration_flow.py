"""Driving the registration journey through the test client (shared by the integration tests)."""

from __future__ import annotations

import itertools

from tests.support import follow_back, url

_counter = itertools.count(1)

PERSONAL = {
    "first_name": "Ana",
    "middle_initial": "M",
    "last_name": "García-López",
    "dob_day": "27",
    "dob_month": "3",
    "dob_year": "1980",
    "ssn": "123-45-6789",
}
CONTACT = {
    "organization": "Acme Health Services",
    "address1": "7500 Security Blvd",
    "address2": "",
    "city": "Baltimore",
    "state": "MD",
    "zip": "21244-1850",
    "phone": "410 786 3000",
    "phone_ext": "12",
}
QUESTIONS = {
    "question_1": "first-school",
    "answer_1": "Lincoln  Elementary",
    "question_2": "first-car",
    "answer_2": "Ford Focus",
}
ROLE_FIELDS = {
    "npi": "1234567893",
    "tin": "12-3456789",
    "legal_business_name": "Acme Health Services, LLC",
    "contract_number": "H1234",
    "gentran_mailbox": "GM004512",
    "organization_number": "0012345",
}


def unique_email() -> str:
    return f"applicant{next(_counter)}.{id(_counter) % 10000}@example.gov"


class Applicant:
    """One browser's registration, step by step."""

    def __init__(self, client, smtp, app_code: str = "PSR", email: str | None = None) -> None:
        self.client = client
        self.smtp = smtp
        self.app_code = app_code
        self.email = email or unique_email()

    @property
    def csrf(self) -> dict[str, str]:
        return {"_csrf_token": self.client.cookies.get("csrftoken", "")}

    async def post(self, path: str, data: dict | None = None, **kw):
        if "csrftoken" not in self.client.cookies:
            await self.client.get(url(self.client, "home:getting-ready"))
        r = await self.client.post(path, data={**(data or {}), **self.csrf}, **kw)
        return await follow_back(self.client, r)

    async def accept_terms(self):
        await self.client.get(url(self.client, "registration:terms", code=self.app_code))
        return await self.post(url(self.client, "registration:accept", code=self.app_code))

    async def personal(self, **override):
        data = {**PERSONAL, "email": self.email, "email_confirm": self.email, **override}
        return await self.post(url(self.client, "registration:personal-save"), data)

    async def verify(self, code: str | None = None):
        code = code or await self.smtp.code_for(self.email)
        return await self.post(url(self.client, "registration:verify-check"), {"code": code})

    async def contact(self, role: str = "provider-user", **override):
        return await self.post(
            url(self.client, "registration:contact-save"), {**CONTACT, "role": role, **ROLE_FIELDS, **override}
        )

    async def questions(self, **override):
        return await self.post(url(self.client, "registration:questions-save"), {**QUESTIONS, **override})

    async def submit(self):
        """Submit, and follow to the acknowledgement as a browser does (``.submitted`` is the
        303 from the POST)."""
        r = await self.post(url(self.client, "registration:submit"))
        if r.status_code == 303 and r.headers["location"] == url(self.client, "registration:done"):
            done = await self.client.get(r.headers["location"])
            done.submitted = r
            return done
        return r

    async def through_questions(self, role: str = "provider-user"):
        for step in (self.accept_terms, self.personal, self.verify):
            r = await step()
            assert r.status_code in (200, 303), r.text
        assert (await self.contact(role=role)).status_code == 303
        assert (await self.questions()).status_code == 303
