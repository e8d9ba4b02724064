"""Intake channels: one module per protocol, each ending in the same spool call."""
