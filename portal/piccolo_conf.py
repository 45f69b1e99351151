"""Piccolo's configuration: the engine comes from the portal's settings."""

from piccolo.conf.apps import AppRegistry

from portal.models.engine import make_engine
from portal.settings import get_settings

DB = make_engine(get_settings())

APP_REGISTRY = AppRegistry(apps=["portal.models.piccolo_app"])
