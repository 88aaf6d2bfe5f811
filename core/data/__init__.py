"""Training data: DACON-layout pairing, paired and unlabeled folders, group-aware splits,
``DepthDataset``, flip and intensity augmentation, contrast families of simulated sets."""

from core.conventions import split_shot
from core.data.augment import flip_batch, flip_pair, jitter_intensity, random_flip_pair
from core.data.dacon import (
    find_dacon_pairs,
    find_dacon_train,
    load_average_depth_csv,
    site_key,
)
from core.data.dataset import DepthDataset
from core.data.families import record_families, record_flippable, select_families
from core.data.folders import detect_layout, find_paired_folder, find_records, find_unlabeled
from core.data.records import IMAGE_EXTS, DatasetError, SampleRecord
from core.data.split import Split, dataset_hash, read_synth_meta, split_by_structure

__all__ = [
    "IMAGE_EXTS",
    "DatasetError",
    "DepthDataset",
    "SampleRecord",
    "Split",
    "dataset_hash",
    "detect_layout",
    "find_dacon_pairs",
    "find_dacon_train",
    "find_paired_folder",
    "find_records",
    "find_unlabeled",
    "flip_batch",
    "flip_pair",
    "jitter_intensity",
    "load_average_depth_csv",
    "random_flip_pair",
    "read_synth_meta",
    "record_families",
    "record_flippable",
    "select_families",
    "site_key",
    "split_by_structure",
    "split_shot",
]
