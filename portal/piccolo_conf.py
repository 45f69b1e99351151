"""Piccolo's configuration (its migration commands): the engine the portal bound, else one made
from the portal's settings."""

from piccolo.conf.apps import AppRegistry

from portal.models.db import bound_engine
from portal.models.engine import make_engine
from portal.settings import get_settings

DB = bound_engine() or make_engine(get_settings())

APP_REGISTRY = AppRegistry(apps=["portal.models.piccolo_app"])
