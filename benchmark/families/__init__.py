"""Dataset family specifications (one module per family, each defining ``FAMILY``)."""
