"""The database: tables (tables.py), the typed rows every query returns (rows.py), the queries
of each journey (registration.py, approvals.py, accounts.py, catalog.py), the engine and the
one transaction helper (engine.py, db.py), and the migrations. Imports only the plain helpers."""
