"""Cluster tests: roomcast nodes, Node nodes and emitters sharing a Redis."""
