"""What the FNO examples share: cached data sets, training with a test error per epoch, and the
training-curve panel. Not an example of its own."""

import math
import time
from pathlib import Path

import numpy as np

from tidal.solvers import CosineDecay, StepDecay, Trainer
from tidal.surrogates import FNO, Supervised, generate, load_dataset

DEFAULT_DATA = Path.home() / ".cache" / "tidal" / "data"


def cached(kind: str, samples: int, data_dir: Path, seed: int = 0, **params):
    """``generate(kind, samples, seed, **params)``, saved in ``data_dir`` the first time and loaded
    from there afterwards (the file name holds every parameter)."""
    tag = "_".join(f"{k}{v}" for k, v in sorted(params.items()))
    path = Path(data_dir) / f"{kind}_{tag}_samples{samples}_seed{seed}.npz"
    if path.exists():
        return load_dataset(path, kind=kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    return generate(kind, samples, seed=seed, path=path, **params)


def relative_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean over samples of ``||pred - ref|| / ||ref||``."""
    n = len(ref)
    return float(np.mean(np.linalg.norm((pred - ref).reshape(n, -1), axis=1)
                         / np.linalg.norm(ref.reshape(n, -1), axis=1)))


def train(net: FNO, a, u, at, ut, epochs: int, lr: float, batch: int, seed: int = 0,
          decay_every: int = 100, progress: bool = False, schedule: str = "step") -> dict:
    """Adam on the relative L2 loss in mini-batches, the learning rate halved every
    ``decay_every`` epochs (``schedule="step"``, the paper's) or annealed to zero over the run
    (``"cosine"``); the test relative L2 after every epoch."""
    data = Supervised(net, a, outputs=u, loss="relative_l2", batch_size=batch, seed=seed)
    test = Supervised(net, at, outputs=ut, loss="relative_l2")
    per_epoch = math.ceil(len(a) / batch)
    untrained = test.relative_l2(net.get_flat())
    # keep_best=False: the test set only watches; the last parameters are reported
    trainer = Trainer(data, net.get_flat(), progress=progress, log_every=per_epoch,
                      validation=test.relative_l2, keep_best=False)
    start = time.perf_counter()
    rate = (CosineDecay() if schedule == "cosine"
            else StepDecay(every=decay_every * per_epoch, factor=0.5))
    trainer.adam(epochs * per_epoch, lr=lr, schedule=rate)
    wall = time.perf_counter() - start
    net.set_flat(trainer.params)
    h = trainer.history
    return {"test_l2": test.relative_l2(trainer.params), "train_l2": data.value(trainer.params),
            "untrained_l2": untrained, "wall": wall, "epochs": epochs,
            "seconds_per_epoch": wall / max(epochs, 1), "history": h,
            "test_curve": np.asarray(h.scalars["validation"]),
            "epoch_of": np.asarray(h.step) / per_epoch}


def curve_panel(ax, result: dict) -> None:
    """Training loss (per batch at each epoch's end) and test relative L2 against epochs."""
    h = result["history"]
    ax.semilogy(result["epoch_of"], h.loss, label="train (batch) rel. L2")
    ax.semilogy(result["epoch_of"], result["test_curve"], label="test rel. L2")
    ax.set_xlabel("epoch")
    ax.legend()
    ax.set_title(f"test relative L2 {result['test_l2']:.4f}")
