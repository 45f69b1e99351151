"""A catalog field's extra ``check`` becomes its ``format`` (text, code, tin, npi); request
statuses and recovery-link purposes are enums (``choices``: no change to the columns)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Catalog fields declare a format"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def formats_from_checks():
        # The rename and, by key, what the code did before formats existed (the next
        # `catalog load` says the same).
        from portal.models.tables import CatalogField

        await CatalogField.raw('ALTER TABLE catalog_field RENAME COLUMN "check" TO format')
        await CatalogField.raw("UPDATE catalog_field SET format = 'text' WHERE format = ''")
        for key, name in (("contract_number", "code"), ("gentran_mailbox", "code"), ("tin", "tin")):
            await CatalogField.raw("UPDATE catalog_field SET format = {} WHERE key = {}", name, key)

    manager.add_raw(formats_from_checks)
    return manager
