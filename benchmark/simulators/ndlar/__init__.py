"""ND-LAr single-particle simulator: particle transport in LAr (particles), detector response and LArPix
electronics (detector), the Generator (generator), constants with sources (constants), plots (validation)."""
