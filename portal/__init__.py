"""IACS Registration Portal."""

import os

# Piccolo finds its engine through this module; the portal always uses its own.
os.environ.setdefault("PICCOLO_CONF", "portal.piccolo_conf")
