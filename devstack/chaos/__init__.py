"""The chaos battery (`python -m devstack chaos`, `make chaos`): the real stack under a mixed workload
and seeded faults, then invariants. See README "Chaos battery"."""
