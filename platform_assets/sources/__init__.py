"""Source connectors: how the platform talks to each source system (HTTP plumbing, one package per source)."""
