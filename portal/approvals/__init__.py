"""Approving requests and provisioning accounts: plain functions, no HTTP.

Owns: each decision exactly once (approve, reject, bulk), the account and grant a final
approval makes, what an approver may see of a request, and the approvers' emails. Imports
accounts, mail, models and the plain helpers."""
