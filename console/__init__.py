"""The operator console: server-rendered pages under /console, served by its own
process (``python -m console``; the gateway forwards /console to it), talking to
the services over gRPC with the signed-in account's API key."""
