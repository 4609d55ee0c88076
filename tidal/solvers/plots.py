"""Figures of training runs and solutions, written straight to image files.

Every function draws on a :class:`matplotlib.figure.Figure` attached to an Agg canvas (never
``pyplot``), so it works headless and leaves the user's matplotlib backend and pyplot state
untouched. Each writes one file (the format follows the suffix, PNG for ``.png``; missing
parent folders are created), of exactly ``figsize * dpi`` pixels, and returns its
:class:`~pathlib.Path`. Inputs of inconsistent shapes raise :class:`TidalArgumentError` naming
the shapes, before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tidal.dsl.errors import TidalArgumentError
from tidal.solvers.training import History

PathLike = str | os.PathLike


def _figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _grid(x, y, fields: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Check ``x``, ``y`` are 1-D and every field has shape ``(len(x), len(y))``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise TidalArgumentError(
            f"x and y must be 1-D grid coordinates, got shapes {x.shape} and {y.shape}",
            hint="pass the coordinate vectors of the grid, not a meshgrid")
    out = []
    for name, u in fields.items():
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (x.size, y.size):
            raise TidalArgumentError(
                f"{name} has shape {u.shape}, expected (len(x), len(y)) = ({x.size}, {y.size})",
                hint=f"reshape {name} so that {name}[i, j] is the value at (x[i], y[j]); "
                     "a field sampled on np.meshgrid(x, y) needs a transpose (.T)")
        out.append(u)
    return x, y, out


def _field(fig: Figure, ax, x, y, u, title: str, xlabel: str, ylabel: str, cmap: str):
    mesh = ax.pcolormesh(x, y, u.T, shading="auto", cmap=cmap)
    fig.colorbar(mesh, ax=ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def relative_l2_error(u_pred: np.ndarray, u_exact: np.ndarray) -> float:
    """``||u_pred - u_exact|| / ||u_exact||`` (the plain L2 norm of the error when
    ``u_exact`` is zero).

    Example:
        >>> relative_l2_error(np.array([1.0, 2.0]), np.array([1.0, 1.0]))  # doctest: +ELLIPSIS
        0.7071...
    """
    u_pred, u_exact = np.asarray(u_pred, float), np.asarray(u_exact, float)
    if u_pred.shape != u_exact.shape:
        raise TidalArgumentError(f"shapes differ: predicted {u_pred.shape}, exact "
                                 f"{u_exact.shape}")
    diff = np.linalg.norm(u_pred - u_exact)
    norm = np.linalg.norm(u_exact)
    return float(diff / norm) if norm > 0 else float(diff)


def plot_loss_history(history: History, path: PathLike, *, title: str = "training loss",
                      figsize: tuple[float, float] = (7.0, 4.0), dpi: int = 100) -> Path:
    """Loss against step on a log scale, with the optimiser changes marked.

    When the history holds ``describe()`` scalars, a second panel plots them (log scale when
    all are positive). Dashed vertical lines mark every change of optimiser (e.g. Adam to
    L-BFGS) at the last step of the previous one, labelled with the new optimiser.

    Args:
        history: a :class:`~tidal.solvers.training.History` with at least one entry.
        path: the image file to write.
        title: title of the loss panel.
        figsize: figure size in inches (width, height); the image is ``figsize * dpi`` pixels.
        dpi: resolution.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> h = History()
        >>> for s in range(5):
        ...     h.append(s, 10.0 ** -s, 0.1 * s, "adam" if s < 3 else "lbfgs", s + 1)
        >>> plot_loss_history(h, os.path.join(tempfile.mkdtemp(), "loss.png")).suffix
        '.png'
    """
    if not isinstance(history, History):
        raise TidalArgumentError(f"history must be a History, got {type(history).__name__}",
                                 hint="pass trainer.history")
    if len(history) == 0:
        raise TidalArgumentError("the history is empty; there is nothing to plot",
                                 hint="train first (trainer.adam / trainer.lbfgs)")
    step = np.asarray(history.step, dtype=np.float64)
    loss = np.asarray(history.loss, dtype=np.float64)
    names = list(history.scalars)
    fig = _figure(figsize)
    axes = fig.subplots(1, 2 if names else 1, squeeze=False)[0]
    ax = axes[0]
    ax.semilogy(step, np.where(loss > 0, loss, np.nan), color="C0", lw=1.5, label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    changes = [i for i in range(1, len(history))
               if history.optimiser[i] != history.optimiser[i - 1]]
    for a in axes:
        for i in changes:
            a.axvline(step[i - 1], color="k", ls="--", lw=1, alpha=0.6)
    for i in changes:
        ax.text(step[i - 1], 1.0, f" {history.optimiser[i]}",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8)
    if history.optimiser:
        ax.text(step[0], 1.0, f" {history.optimiser[0]}", transform=ax.get_xaxis_transform(),
                va="top", ha="left", fontsize=8)
    if names:
        sax = axes[1]
        values = {k: np.asarray(history.scalars[k], dtype=np.float64) for k in names}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        for k, v in values.items():
            sax.plot(step, v, lw=1.2, label=k)
        if finite.size and np.all(finite > 0):
            sax.set_yscale("log")
        sax.set_xlabel("step")
        sax.set_title("reported scalars")
        sax.grid(True, which="both", alpha=0.3)
        sax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_solution(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                  u: np.ndarray, path: PathLike, *, title: str = "u", xlabel: str = "x",
                  ylabel: str = "t", cmap: str = "viridis",
                  figsize: tuple[float, float] = (6.0, 4.5), dpi: int = 100) -> Path:
    """A 2-D field on a grid as a coloured mesh with a colour bar.

    Args:
        x: first grid coordinate, shape ``(nx,)`` (horizontal axis).
        y: second grid coordinate (e.g. time), shape ``(ny,)`` (vertical axis).
        u: values, shape ``(nx, ny)``: ``u[i, j]`` is the value at ``(x[i], y[j])``.
        path: the image file to write.
        title: panel title.
        xlabel: horizontal axis label.
        ylabel: vertical axis label.
        cmap: matplotlib colour map.
        figsize: figure size in inches (width, height).
        dpi: resolution.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> x, t = np.linspace(-1, 1, 30), np.linspace(0, 1, 20)
        >>> u = np.sin(np.pi * x)[:, None] * np.exp(-t)[None, :]
        >>> plot_solution(x, t, u, os.path.join(tempfile.mkdtemp(), "u.png")).name
        'u.png'
    """
    x, y, (u,) = _grid(x, y, {"u": u})
    fig = _figure(figsize)
    ax = fig.subplots()
    _field(fig, ax, x, y, u, title, xlabel, ylabel, cmap)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_comparison(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                    u_pred: np.ndarray, u_exact: np.ndarray, path: PathLike, *,
                    xlabel: str = "x", ylabel: str = "t", cmap: str = "viridis",
                    figsize: tuple[float, float] = (15.0, 4.0), dpi: int = 100,
                    mask: np.ndarray | None = None) -> Path:
    """Prediction, exact solution and absolute error side by side.

    The figure title gives the relative L2 error ``||u_pred - u_exact|| / ||u_exact||``
    (see :func:`relative_l2_error`) over the grid points shown. Prediction and exact panels share
    one colour range.

    Args:
        x: first grid coordinate, shape ``(nx,)``.
        y: second grid coordinate, shape ``(ny,)``.
        u_pred: predicted values, shape ``(nx, ny)``.
        u_exact: reference values, shape ``(nx, ny)``.
        path: the image file to write.
        xlabel: horizontal axis label.
        ylabel: vertical axis label.
        cmap: colour map of the solution panels.
        figsize: figure size in inches (width, height).
        dpi: resolution.
        mask: optional ``(nx, ny)`` booleans: the grid points inside the domain (e.g. from
            ``domain.inside``); the others are left blank and out of the error.

    Returns:
        The path written.

    Example:
        >>> import tempfile, os
        >>> x, t = np.linspace(0, 1, 16), np.linspace(0, 1, 8)
        >>> exact = np.add.outer(x, t)
        >>> out = plot_comparison(x, t, exact + 1e-3, exact,
        ...                       os.path.join(tempfile.mkdtemp(), "cmp.png"))
        >>> out.exists()
        True
    """
    x, y, (u_pred, u_exact) = _grid(x, y, {"u_pred": u_pred, "u_exact": u_exact})
    shown = np.ones(u_pred.shape, dtype=bool)
    if mask is not None:
        shown = np.asarray(mask)
        if shown.shape != u_pred.shape or shown.dtype != bool or not shown.any():
            raise TidalArgumentError(
                f"mask must be booleans of shape {u_pred.shape} with at least one True, got "
                f"{shown.dtype} of shape {shown.shape}",
                hint="pass domain.inside(points).reshape(nx, ny)")
        u_pred, u_exact = np.where(shown, u_pred, np.nan), np.where(shown, u_exact, np.nan)
    err = np.abs(u_pred - u_exact)
    lo = float(min(np.nanmin(u_pred), np.nanmin(u_exact)))
    hi = float(max(np.nanmax(u_pred), np.nanmax(u_exact)))
    fig = _figure(figsize)
    axes = fig.subplots(1, 3)
    for ax, u, name in ((axes[0], u_pred, "prediction"), (axes[1], u_exact, "exact")):
        mesh = ax.pcolormesh(x, y, u.T, shading="auto", cmap=cmap, vmin=lo, vmax=hi)
        fig.colorbar(mesh, ax=ax)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    _field(fig, axes[2], x, y, err, "absolute error", xlabel, ylabel, "magma")
    fig.suptitle(f"relative L2 error {relative_l2_error(u_pred[shown], u_exact[shown]):.3e}")
    fig.tight_layout()
    return _save(fig, path, dpi)


def report(u: np.ndarray, exact: np.ndarray, x: np.ndarray, y: np.ndarray, trainer, out: PathLike,
           *, title: str, wall: float, ylabel: str = "t") -> dict:
    """Write ``out/solution.png`` and ``out/loss.png``, print the training summary and the
    ``relative_l2_error:`` line, and return ``error, wall, steps, loss``.

    Args:
        u, exact: prediction and reference on the grid ``x`` by ``y``.
        trainer: the :class:`~tidal.solvers.Trainer` that produced ``u``.
        out: the output folder.
        title: title of the loss figure.
        wall: training wall time in seconds (compile included).
        ylabel: name of the second coordinate.
    """
    out = Path(out)
    error = relative_l2_error(u, exact)
    plot_comparison(x, y, u, exact, out / "solution.png", ylabel=ylabel)
    plot_loss_history(trainer.history, out / "loss.png", title=title)
    loss = trainer.history.loss[-1]
    print(f"training: {trainer.step} L-BFGS iterations, {wall:.0f} s (compile included), "
          f"stopped: {trainer.stopped_reason}, final loss {loss:.3e}")
    print(f"relative_l2_error: {error:.3e}")
    return {"error": error, "wall": wall, "steps": trainer.step, "loss": loss}


__all__ = ["plot_comparison", "plot_loss_history", "plot_solution", "relative_l2_error", "report"]
