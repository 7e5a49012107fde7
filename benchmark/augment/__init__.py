"""Augmentations shared by all baselines: ``sparse3d`` (voxel events) and ``jets`` (constituents)."""
from benchmark.augment.jets import (JET_AUGMENTATIONS, collinear_split, jet_views, jetclr_views, rotate_jets, soft_smear,
                                    translate_jets)
from benchmark.augment.sparse3d import SparseAugment, SparseAugmentConfig, revoxelise

__all__ = ["SparseAugment", "SparseAugmentConfig", "revoxelise", "rotate_jets", "translate_jets",
           "collinear_split", "soft_smear", "jetclr_views", "jet_views", "JET_AUGMENTATIONS"]
