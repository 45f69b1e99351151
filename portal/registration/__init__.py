"""The registration journey as plain functions: no HTTP, and no queries (see portal.models)."""
