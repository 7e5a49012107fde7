"""Converters of published datasets into the SimShift schema."""
