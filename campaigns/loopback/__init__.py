"""Loopback DNS and HTTP servers: tests, the demo and the benchmark point personas at these, so nothing
ever touches the internet. Both answer deterministically from the name they are asked about."""
