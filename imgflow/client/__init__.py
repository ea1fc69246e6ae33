"""The `imgflow` command-line client: submit, jobs, login, logout.

It speaks only the public API (GraphQL over HTTP, graphql-transport-ws for live
updates), so it works the same against `imgflow serve`, compose and a remote
deployment. It imports nothing of the server but its pure enums: `imgflow submit`
starts in a fraction of a second.
"""
