"""The portal's tables. Names are the words of the IACS help page."""

from piccolo.columns import (
    JSONB,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class CatalogField(Table, tablename="catalog_field"):
    """An application-specific field a role may require (TIN, NPI, ...), with its format."""

    key = Varchar(length=40, unique=True, required=True)
    label = Varchar(length=100, required=True)
    pattern = Varchar(length=200, required=True)
    example = Varchar(length=100, required=True)
    hint = Text(default="")
    check = Varchar(length=20, default="")  # extra check beyond the pattern, e.g. "npi"
    sensitive = Boolean(default=False)  # encrypted at rest and masked on screen (TIN)


class Application(Table, tablename="application"):
    """A CMS application people register for."""

    code = Varchar(length=20, unique=True, required=True)
    name = Varchar(length=150, required=True)
    description = Text(default="")
    requires_ssn = Boolean(default=False)
    active = Boolean(default=True, index=True)
    position = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


class Role(Table, tablename="role"):
    """A role within an application: the fields it needs and how it is approved."""

    application = ForeignKey(references=Application, required=True, index=True)
    code = Varchar(length=40, required=True)
    name = Varchar(length=150, required=True)
    description = Text(default="")
    fields = JSONB(default=[])  # list of CatalogField keys, in display order
    approval_levels = Integer(default=1)
    review_days = Integer(default=30)
    active = Boolean(default=True)
    position = Integer(default=0)
