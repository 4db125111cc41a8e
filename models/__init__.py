"""Shipped weights and their cards (installed as pixcodec.weights)."""
