"""A generated-input test tier: every form field, query parameter and path parameter of every
route driven with hostile values, as four people (signed out, an applicant mid-registration, an
account holder and an approver), through the real app, database and SMTP server.

``python -m tests.fuzz --requests 12000 --seed 1`` (``make fuzz``) runs it on a database of its
own; ``tests/integration/test_fuzz_sample.py`` runs a seeded sample of the same generator in CI.
Modules: ``routes`` (what each route reads), ``values`` (hostile values), ``generator`` (one
request), ``personas`` (the four browsers), ``stored`` (the stored-row check), ``runner``."""
