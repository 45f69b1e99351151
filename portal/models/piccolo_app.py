import os

from piccolo.conf.apps import AppConfig

from portal.models.tables import Application, CatalogField, Role

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[CatalogField, Application, Role],
    migration_dependencies=[],
    commands=[],
)
