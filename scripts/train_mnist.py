"""Train the torch MLP on MNIST with Lightning: fit, test the best checkpoint, write summary.json and plots.

    python scripts/train_mnist.py                              # the defaults in scripts/configs/mnist.yaml
    python scripts/train_mnist.py -c scripts/configs/mnist_cnn.yaml   # the CNN instead of the MLP
    python scripts/train_mnist.py --trainer.fast_dev_run 1     # smoke run: one batch of each stage
    python scripts/train_mnist.py --help                       # every option

The last line printed is the run directory.
"""

from pathlib import Path

from lightning.pytorch.cli import ArgsType

from torch_impl.lit import run

CONFIG = Path(__file__).parent / "configs" / "mnist.yaml"


def cli_main(args: ArgsType = None) -> None:
    run.cli_main(CONFIG, args)


if __name__ == "__main__":
    cli_main()
