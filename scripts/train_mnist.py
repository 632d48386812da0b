"""Train the torch MLP or CNN on MNIST or Fashion-MNIST with Lightning: fit, test the best checkpoint, write reports.

    python scripts/train_mnist.py                                          # scripts/configs/mnist.yaml: the MLP
    python scripts/train_mnist.py -c scripts/configs/mnist_cnn.yaml        # the CNN instead of the MLP
    python scripts/train_mnist.py -c scripts/configs/fashion_mnist.yaml    # Fashion-MNIST (and fashion_mnist_cnn.yaml)
    python scripts/train_mnist.py --trainer.fast_dev_run 1                 # smoke run: one batch of each stage
    python scripts/train_mnist.py --help                                   # every option

Each -c file is read on top of mnist.yaml, and the command line on top of them. The last line printed is the run
directory (summary.json, metrics.csv, checkpoints/ and plots).
"""

from pathlib import Path

from lightning.pytorch.cli import ArgsType

from torch_impl.lit import run

CONFIG = Path(__file__).parent / "configs" / "mnist.yaml"


def cli_main(args: ArgsType = None) -> None:
    run.cli_main(CONFIG, args)


if __name__ == "__main__":
    cli_main()
