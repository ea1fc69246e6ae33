"""The ports imgflow talks to, one sub-package each, every one chosen by its URL's scheme."""

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
"""URL schemes redis-py connects with: what selects the Redis events and counters."""
