"""The role-fields fragment that registration's Contact Information and Request another
application both swap in when the role changes (a shared piece, not a controller)."""

from __future__ import annotations

from litestar.response import Template

from portal.models import registration as q
from portal.registration.forms import ContactForm
from portal.web import VARY


async def role_fields_fragment(application_id: int, role: str) -> Template:
    """Exactly the application-specific fields of one role."""
    rules = await q.role_rules(application_id)
    return Template(
        template_name="registration/_role_fields.html",
        context={"rules": rules.of(role), "form": ContactForm(role=role), "errors": {}, "saved_fields": {}},
        headers=VARY,
    )
