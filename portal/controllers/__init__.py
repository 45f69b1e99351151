"""The web layer's route handlers, one controller per journey, registered in one place. Each handler
parses, calls one journey function and picks a page, a fragment or a redirect (portal.web)."""

from litestar.types import ControllerRouterHandler

from portal.controllers.accounts import AccountsController, RequestAnotherController
from portal.controllers.approvals import ApprovalsController
from portal.controllers.assets import serve_asset
from portal.controllers.errors import EXCEPTION_HANDLERS
from portal.controllers.home import HomeController
from portal.controllers.mailbox import MailboxController
from portal.controllers.mfa import MfaController
from portal.controllers.ops import HealthController
from portal.controllers.registration import RegistrationController
from portal.controllers.sso import SsoController
from portal.controllers.status import StatusController

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    HomeController,
    RegistrationController,
    AccountsController,
    RequestAnotherController,
    MfaController,
    ApprovalsController,
    StatusController,
    HealthController,
    MailboxController,
    SsoController,
    serve_asset,
]

__all__ = ["EXCEPTION_HANDLERS", "ROUTE_HANDLERS"]
