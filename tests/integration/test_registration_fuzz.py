"""Property: whatever text is typed into any field of any registration step, the review's
inline save, submit or the status form, the portal answers below 500, never echoes markup
unescaped, and never stores a control character (spec Journey 2: "Bad input never gives a 500").

Hypothesis drives async tests through pytest-asyncio's own support for ``@given`` (it runs
each example on the session loop), so the real app and database of the other integration
tests are used. The example database is off so nothing is written to the working folder."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from portal.drafts import COOKIE, SALT
from portal.models.tables import RegistrationDraft
from portal.registration.forms import normalise_email
from tests.fuzz import routes
from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS, Applicant
from tests.support import url

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any Unicode text (control, format, right-to-left and zero-width characters included),
# now and then 10,000 characters, markup, or a value that is valid for some field (so that
# the other fields' checks are reached too).
ANY_TEXT = st.text(max_size=300)
SPECIAL = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So", "Nd"]),
        st.sampled_from("\u200b\u200f\u202e\ufeff\x00<>\"'&;/\\%"),
    ),
    max_size=60,
)
HUGE = st.builds(lambda ch: ch * 10_000, st.characters(codec="utf-8"))
MARKUP = st.builds(
    lambda a, m, b: a + m + b, st.text(max_size=20), st.sampled_from([SCRIPT, IMG]), st.text(max_size=20)
)
VALID_LOOKING = st.sampled_from(
    [
        *PERSONAL.values(),
        *CONTACT.values(),
        *QUESTIONS.values(),
        *ROLE_FIELDS.values(),
        "provider-user",
        "security-official",
        "ana@example.gov",
        "123456",
        "IACS-7K4M-9QX2-HT3P",
    ]
)
VALUE = st.one_of(ANY_TEXT, ANY_TEXT, SPECIAL, MARKUP, VALID_LOOKING, HUGE)

# Each step's fields, as the generated-input tier lists them.
PERSONAL_FIELDS, CONTACT_FIELDS, QUESTION_FIELDS = list(routes.PERSONAL), list(routes.CONTACT), list(routes.QUESTIONS)


def form(fields: list[str]):
    return st.fixed_dictionaries({}, optional=dict.fromkeys(fields, VALUE))


def draft_token(client) -> str:
    return URLSafeTimedSerializer(client.app.state.settings.secret_key, salt=SALT).loads(client.cookies[COOKIE])


def has_control(value) -> bool:
    if isinstance(value, dict):
        return any(has_control(v) for v in value.values())
    if isinstance(value, list):
        return any(has_control(v) for v in value)
    return isinstance(value, str) and bool(CONTROL.search(value))


async def check_stored(token: str) -> None:
    """Whatever the post did, the draft holds no control character and a well-formed email."""
    row = await RegistrationDraft.select().where(RegistrationDraft.token == token).output(load_json=True).first()
    assert row is not None
    for column in ("personal", "contact", "questions", "email"):
        assert not has_control(row[column]), f"{column} stores a control character: {row[column]!r}"
    if row["email"]:
        assert normalise_email(row["email"]) == row["email"], row["email"]


def check_response(r) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url.path, r.status_code, r.text[-1500:])
    assert SCRIPT not in r.text and "<img src=x onerror" not in r.text


class Journey:
    """One draft per test, brought to the step under test once, then posted to many times."""

    def __init__(self, client, smtp) -> None:
        self.client = client
        self.smtp = smtp
        self.a: Applicant | None = None
        self.token = ""

    async def drain(self) -> None:
        from portal.mail.worker import deliver_due

        while await deliver_due(self.smtp.settings, batch=200):
            pass

    async def at(self, stage: str) -> Applicant:
        if self.a is None:
            a = self.a = Applicant(self.client, self.smtp)
            assert (await a.accept_terms()).status_code == 303
            self.token = draft_token(self.client)
            if stage != "personal":
                assert (await a.personal()).status_code == 303
                if stage != "verify":
                    await self.drain()
                    assert (await a.verify(await self.smtp.code_for(a.email))).status_code == 303
                    if stage != "contact":
                        assert (await a.contact()).status_code == 303
                        if stage != "questions":
                            assert (await a.questions()).status_code == 303
        return self.a

    async def post(self, path: str, data: dict, htmx: bool):
        r = await self.a.post(path, data, headers={"HX-Request": "true"} if htmx else {})
        check_response(r)
        await check_stored(self.token)
        return r


def fuzz_step(stage: str, route: str, fields: list[str], **path_params):
    """Generated forms posted to the route called ``route``, from a draft at ``stage``."""

    @FUZZ
    @given(data=form(fields), htmx=st.booleans())
    async def test(client, smtp, data, htmx):
        journey = test.journeys.setdefault(id(client), Journey(client, smtp))
        await journey.at(stage)
        await journey.post(url(client, route, **path_params), data, htmx)

    test.journeys = {}
    return test


test_fuzz_personal = fuzz_step("personal", "registration:personal-save", PERSONAL_FIELDS)
test_fuzz_verify = fuzz_step("verify", "registration:verify-check", ["code"])
test_fuzz_contact = fuzz_step("contact", "registration:contact-save", CONTACT_FIELDS)
test_fuzz_questions = fuzz_step("questions", "registration:questions-save", QUESTION_FIELDS)
test_fuzz_review_personal = fuzz_step("review", "registration:review-save", PERSONAL_FIELDS, section="personal")
test_fuzz_review_contact = fuzz_step("review", "registration:review-save", CONTACT_FIELDS, section="contact")
test_fuzz_review_questions = fuzz_step("review", "registration:review-save", QUESTION_FIELDS, section="questions")
test_fuzz_submit = fuzz_step("review", "registration:submit", ["tracking_number", "email", "role", "token", "personal"])


@FUZZ
@given(data=form(["tracking_number", "email"]), htmx=st.booleans())
async def test_fuzz_status(client, data, htmx):
    if "csrftoken" not in client.cookies:
        await client.get(url(client, "status:form"))
    r = await client.post(
        url(client, "status:check"),
        data={**data, "_csrf_token": client.cookies["csrftoken"]},
        headers={"HX-Request": "true"} if htmx else {},
    )
    check_response(r)
    from portal.app import MAX_BODY

    # Without JavaScript the answer is a 303 to the status page (post/redirect/get).
    assert r.status_code == (413 if len(r.request.content) > MAX_BODY else 200 if htmx else 303)


@FUZZ
@given(
    cookie=st.one_of(
        st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';,"\\'), max_size=600
        ),
        st.text(alphabet="ABCDEFGHIJabcdefghij0123456789-_.", min_size=400, max_size=5000),
    )
)
async def test_fuzz_draft_cookie(client, cookie):
    """Any cookie value: the step pages send to the start page (or refuse cleanly)."""
    client.cookies.set(COOKIE, cookie, domain="testserver.local", path="/register")
    for step in ("registration:personal", "registration:review"):
        r = await client.get(url(client, step))
        assert r.status_code < 500, r.status_code
        if r.status_code in (302, 303):
            assert r.headers["location"] == url(client, "registration:start", query="expired=1")
    client.cookies.delete(COOKIE)
