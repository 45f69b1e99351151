"""Accounts and sign-in as plain functions: no HTTP; queries live in portal.models.accounts.

Owns: sign-in, the lockout, sessions, password changes and the policy (service.py,
passwords.py), User IDs (userids.py), the authentication questions (questions.py), recovery's
signed tickets and links (recovery.py), and approvers made by the operator (approvers.py).
Imports mail, models and the plain helpers."""
