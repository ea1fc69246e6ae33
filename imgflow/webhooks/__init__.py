"""Webhooks: endpoints users register, the deliveries owed to them when their jobs end
(written in the job's own transaction, by imgflow.jobs.webhook_outbox), and the sender
that delivers them, signed per the Standard Webhooks spec, through the SSRF guard."""
