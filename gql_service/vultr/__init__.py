"""Vultr API v2: the httpx client, live state, cost and drift, and a fake.

Modules, lowest first: endpoints (paths and envelopes), ratelimit, client,
resources (ResourceType -> kind and field readers), cost, drift, cache,
live (VultrInventory, the entry point for the service) and fake.
"""
