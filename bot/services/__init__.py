"""The work: accept and follow jobs, moderation, settings, audit, poller, callbacks, metrics."""
