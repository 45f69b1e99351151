"""Catalog queries: load the catalog file into the database, read it back for pages."""

from __future__ import annotations

from typing import Any

import msgspec
from piccolo.columns import Column

from portal.catalog import Catalog, FieldRule
from portal.crypto import FieldCipher, mask
from portal.models import oidc as oidc_q
from portal.models.db import transaction
from portal.models.rows import ContactData
from portal.models.tables import Application, CatalogField, Role


class LoadReport(msgspec.Struct):
    applications: int
    roles: int
    fields: int
    retired_applications: int
    retired_roles: int


def _columns(values: dict[Column | str, Any]) -> dict[Column, Any]:
    return {k: v for k, v in values.items() if isinstance(k, Column)}


async def load(catalog: Catalog) -> LoadReport:
    """Upsert the catalog in one transaction. Entries are matched by code; what the file no
    longer lists is marked inactive, never deleted, so requests that reference it keep working.
    Loading the same file twice changes nothing."""
    async with transaction():
        for key, spec in catalog.fields.items():
            field_values: dict[Column | str, Any] = {
                CatalogField.label: spec.label,
                CatalogField.pattern: spec.pattern,
                CatalogField.example: spec.example,
                CatalogField.hint: spec.hint,
                CatalogField.format: spec.format,
                CatalogField.sensitive: spec.sensitive,
            }
            if await CatalogField.exists().where(CatalogField.key == key):
                await CatalogField.update(field_values).where(CatalogField.key == key)
            else:
                await CatalogField.insert(CatalogField(_data=_columns({CatalogField.key: key, **field_values})))

        existing_apps = {row["code"]: row["id"] for row in await Application.select(Application.id, Application.code)}
        existing_roles = {
            (row["application"], row["code"]): row["id"]
            for row in await Role.select(Role.id, Role.application, Role.code)
        }
        kept_apps: set[int] = set()
        kept_roles: set[int] = set()
        for a_pos, app in enumerate(catalog.applications):
            app_values: dict[Column | str, Any] = {
                Application.name: app.name,
                Application.description: app.description,
                Application.requires_ssn: app.requires_ssn,
                Application.active: True,
                Application.position: a_pos,
            }
            app_id = existing_apps.get(app.code)
            if app_id is None:
                rows = await Application.insert(Application(_data=_columns({Application.code: app.code, **app_values})))
                app_id = rows[0]["id"]
            else:
                await Application.update(app_values).where(Application.id == app_id)
            kept_apps.add(app_id)
            for r_pos, role in enumerate(app.roles):
                role_values: dict[Column | str, Any] = {
                    Role.name: role.name,
                    Role.description: role.description,
                    Role.fields: role.fields,
                    Role.approval_levels: role.approval_levels,
                    Role.review_days: role.review_days,
                    Role.mfa: role.mfa,
                    Role.active: True,
                    Role.position: r_pos,
                }
                role_id = existing_roles.get((app_id, role.code))
                if role_id is None:
                    new_role = {Role.application: app_id, Role.code: role.code, **role_values}
                    rows = await Role.insert(Role(_data=_columns(new_role)))
                    role_id = rows[0]["id"]
                else:
                    await Role.update(role_values).where(Role.id == role_id)
                kept_roles.add(role_id)
            await oidc_q.save_client(app_id, app.client)

        retired_apps = [i for i in existing_apps.values() if i not in kept_apps]
        retired_roles = [i for i in existing_roles.values() if i not in kept_roles]
        if retired_apps:
            await Application.update({Application.active: False}).where(Application.id.is_in(retired_apps))
            for app_id in retired_apps:
                await oidc_q.save_client(app_id, None)
        if retired_roles:
            await Role.update({Role.active: False}).where(Role.id.is_in(retired_roles))

    return LoadReport(
        applications=len(kept_apps),
        roles=len(kept_roles),
        fields=len(catalog.fields),
        retired_applications=len(retired_apps),
        retired_roles=len(retired_roles),
    )


class RoleView(msgspec.Struct, frozen=True):
    code: str
    name: str
    description: str
    fields: list[str]
    approval_levels: int
    review_days: int


class ApplicationView(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    description: str
    requires_ssn: bool
    roles: list[RoleView]


async def active_applications(*, with_roles: bool = True) -> list[ApplicationView]:
    """Every active application with its active roles, in catalog order (two queries; one, and
    no roles, for a list of applications only)."""
    apps = (
        await Application.select(
            Application.id,
            Application.code,
            Application.name,
            Application.description,
            Application.requires_ssn,
        )
        .where(Application.active.eq(True))
        .order_by(Application.position)
    )
    if not with_roles:
        return [ApplicationView(**row, roles=[]) for row in apps]
    roles = (
        await Role.select(
            Role.application,
            Role.code,
            Role.name,
            Role.description,
            Role.fields,
            Role.approval_levels,
            Role.review_days,
        )
        .where(Role.active.eq(True))
        .order_by(Role.position)
        .output(load_json=True)
    )
    by_app: dict[int, list[RoleView]] = {}
    for row in roles:
        app_id = row.pop("application")
        by_app.setdefault(app_id, []).append(msgspec.convert(row, RoleView))
    return [ApplicationView(**row, roles=by_app.get(row["id"], [])) for row in apps]


async def field_labels() -> dict[str, str]:
    rows = await CatalogField.select(CatalogField.key, CatalogField.label)
    return {str(row["key"]): str(row["label"]) for row in rows}


def field_rows(contact: ContactData, rules: list[FieldRule], cipher: FieldCipher) -> list[tuple[str, str]]:
    """A role's fields of saved contact information as (label, value) to show, in the catalog's
    order: sensitive ones (TIN) masked to the last four."""
    rows = []
    for rule in rules:
        raw = contact.fields.get(rule.key, "")
        rows.append((rule.label, mask(cipher.decrypt(raw, rule.key)) if rule.sensitive and raw else raw))
    return rows
