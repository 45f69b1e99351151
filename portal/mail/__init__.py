"""Email: the outbox (written in the transaction of the change that causes it), the messages'
texts, the per-address caps, the worker that delivers over SMTP, and the development catcher.
The lowest journey package: it imports only models and the plain helpers."""
