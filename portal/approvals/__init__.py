"""Approving requests and provisioning accounts: plain functions, no HTTP."""
