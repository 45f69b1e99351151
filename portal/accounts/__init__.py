"""Accounts and sign-in as plain functions: no HTTP; queries live in portal.models.accounts."""
