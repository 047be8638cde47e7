"""Adapter tests: the contract every adapter keeps, and the cluster wire format."""
