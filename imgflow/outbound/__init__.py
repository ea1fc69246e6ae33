"""Outbound calls to addresses users choose (webhook endpoints, images by URL), all
through one guard: `imgflow.outbound.guard` decides, `imgflow.outbound.client` connects
to the address it checked."""
