"""IACS Registration Portal.

Layers, each importing only those below it (tests/unit/test_layers.py holds them):
web (portal.app, portal.controllers, portal.auth, portal.web, ...) -> journeys (registration ->
approvals -> accounts -> mail) -> models (queries and typed rows) -> plain helpers."""
