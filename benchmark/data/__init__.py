"""Dataset layer: registry of families, materialisation, downloads, loading and collation."""
