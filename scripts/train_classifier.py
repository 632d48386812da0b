"""Train a classifier on Fashion-MNIST with Lightning (the MLP; -c scripts/configs/fashion_mnist_cnn.yaml: the CNN).

    python scripts/train_classifier.py                             # the defaults in scripts/configs/fashion_mnist.yaml
    python scripts/train_classifier.py --trainer.fast_dev_run 1    # smoke run: one batch of each stage
    python scripts/train_classifier.py --help                      # every option

It fits, tests the best checkpoint and writes summary.json and plots; the last line printed is the run directory.
"""

from pathlib import Path

from lightning.pytorch.cli import ArgsType

from torch_impl.lit import run

CONFIG = Path(__file__).parent / "configs" / "fashion_mnist.yaml"


def cli_main(args: ArgsType = None) -> None:
    run.cli_main(CONFIG, args)


if __name__ == "__main__":
    cli_main()
