"""Specs of the ``policy`` family: policy losses, advantages, KL penalties and aggregation."""
