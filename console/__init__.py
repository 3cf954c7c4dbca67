"""The operator console: server-rendered pages under /console, served by the
gateway, talking to the services over gRPC with the signed-in account's API key."""
