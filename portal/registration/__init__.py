"""The registration journey as plain functions: no HTTP, and no queries (see portal.models).

Owns: the six steps and their order (steps.py), the forms and their validation (forms.py), the
verification-code rules (verification.py), tracking numbers (tracking.py), Check status
(status.py), and saving each step and submitting (service.py). Imports approvals, accounts,
mail, models and the plain helpers; nothing imports it but the web layer."""
