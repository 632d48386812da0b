"""MNISTDataModule: MNIST or Fashion-MNIST as flattened, normalised tensors, optionally resident on the device."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from scratch.data import DATASETS, MissingDataError, default_data_dir, load, missing_files, missing_message, normalize


class DeviceBatches:
    """Batches sliced from tensors that already live on the device, in the order of `sampler`.

    No workers and no copies from the host; Lightning calls `sampler.set_epoch` every epoch, as on a DataLoader.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, sampler: DistributedSampler):
        self.images, self.labels = images, labels  # (N, 784) float32, (N,) int64, both on the device
        self.batch_size = batch_size
        self.sampler = sampler
        self.batch_sampler = None  # Lightning inspects both, as on a DataLoader

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.tensor(list(self.sampler), device=self.images.device)  # this rank's indices for this epoch
        for index in order.split(self.batch_size):
            yield self.images[index], self.labels[index]  # (B, 784), (B,)


class MNISTDataModule(L.LightningDataModule):
    """MNIST or Fashion-MNIST: a seeded train/val split of the 60,000 training images and the 10,000 test images."""

    def __init__(
        self,
        dataset: str = "mnist",
        data_dir: str | None = None,
        batch_size: int = 128,
        val_size: int = 5000,
        split_seed: int = 0,
        num_workers: int = 0,
        gpu_resident: bool = False,
        download: bool = True,
    ) -> None:
        """Choose the data and how it is served.

        Args:
            dataset: "mnist" or "fashion_mnist".
            data_dir: folder holding MNIST/raw/ and FashionMNIST/raw/; None means $MLP_PARITY_DATA, else ./data.
            batch_size: images per batch (per device under DDP).
            val_size: training images held out for validation (a seeded split: 55,000 / 5,000 by default).
            split_seed: seed of the train/val split.
            num_workers: DataLoader worker processes (unused with gpu_resident).
            gpu_resident: move the whole dataset to the trainer's device once and slice batches there
                (no DataLoader; works on CPU too, where it skips per-sample collation).
            download: when files are missing, try torchvision's downloader before giving up.
        """
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
        self.save_hyperparameters()
        self.data_dir = default_data_dir() if data_dir is None else data_dir
        self.class_names = DATASETS[dataset][3]
        self.train_set = self.val_set = self.test_set = None  # each (images (N, 784) float32, labels (N,) int64)

    def prepare_data(self) -> None:
        dataset, failure = self.hparams.dataset, ""
        if missing_files(dataset, self.data_dir) and self.hparams.download:
            import torchvision  # slow to import, and only needed here

            download = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}
            try:
                download[dataset](root=self.data_dir, download=True)
            except (RuntimeError, OSError) as err:  # no network, say
                failure = f" (torchvision's download failed: {str(err).splitlines()[0]})"
        missing = missing_files(dataset, self.data_dir)
        if missing:
            raise MissingDataError(missing_message(dataset, missing) + failure)

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate") and self.train_set is None:
            images, labels = self._tensors("train")
            n_val = self.hparams.val_size
            if not 0 < n_val < len(labels):
                raise ValueError(
                    f"val_size must be between 1 and {len(labels) - 1} (the training split holds {len(labels)} "
                    f"images), got {n_val}; set --data.val_size accordingly"
                )
            order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.hparams.split_seed))
            val, train = order[:n_val].to(images.device), order[n_val:].to(images.device)
            self.train_set, self.val_set = (images[train], labels[train]), (images[val], labels[val])
        if stage == "test" and self.test_set is None:
            self.test_set = self._tensors("test")

    def _tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Read and validate the split's IDX files, normalise, and place them on the device when gpu_resident."""
        images, labels = load(self.hparams.dataset, split, self.data_dir)  # (N, 28, 28) uint8, (N,) int64
        x = torch.from_numpy(normalize(images, self.hparams.dataset))  # (N, 784) float32
        y = torch.from_numpy(labels)
        if self.hparams.gpu_resident and self.trainer is not None:
            device = self.trainer.strategy.root_device
            x, y = x.to(device), y.to(device)
        return x, y

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.test_set)

    def _loader(self, tensors: tuple[torch.Tensor, torch.Tensor], shuffle: bool = False) -> DataLoader | DeviceBatches:
        hp = self.hparams
        if not hp.gpu_resident:  # keywords only: under DDP, Lightning rebuilds it from them with a DistributedSampler
            workers = hp.num_workers
            return DataLoader(TensorDataset(*tensors), batch_size=hp.batch_size, shuffle=shuffle, num_workers=workers,
                              persistent_workers=workers > 0)
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        # The sampler Lightning would inject under DDP: each rank a disjoint shard, reshuffled every epoch
        # with the same seed on every rank; evaluation shards pad with a few repeats only when N % world_size != 0.
        seed = int(os.environ.get("PL_GLOBAL_SEED", "0"))  # set by seed_everything, the same on every rank
        sampler = DistributedSampler(tensors[1], world_size, rank, shuffle, seed=seed)
        return DeviceBatches(*tensors, hp.batch_size, sampler)
