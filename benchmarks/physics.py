"""tidal.physics simulators: loss + gradient time against ti.ad.Tape and JAX, in one run.

For each simulator, on one problem in float64 on the CPU, the same loss (weighted squared
mismatch of the simulated states with data) and its gradient with respect to the named
parameters, three ways:

* tidal: ``model.loss_grad(names)``: the whole-rollout kernel and its adjoint under td.Tape;
* Taichi: ``ti.ad.Tape`` over the model's per-step kernels compiled by Taichi itself (the
  ``.raw()`` of each ``td.kernel``: the same source, the way a Taichi user runs a simulation),
  one launch per step and kernel, then the mismatch kernel;
* JAX: ``jax.jit(jax.value_and_grad(loss))`` with the time loop as ``jax.lax.scan`` (written
  here for each model; mass-spring from ``mass_spring_peers.py``); skipped without JAX.

Each time is the median of ``--repeats`` warm calls (after one call that compiles). The three
losses and gradients are compared (relative max-norm), then the times and the ratios
tidal / Taichi (target at most 1.0) and tidal / JAX (target at most 0.5) are printed.

Run: ``python benchmarks/physics.py`` (a few minutes on a 2-core machine).
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
import taichi as ti

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mass_spring_peers as peers  # noqa: E402
from common import median_ms, rel  # noqa: E402

import tidal as td  # noqa: E402
from tidal.physics import (  # noqa: E402
    MPM2D,
    Burgers1D,
    Diffusion2D,
    MassSpring,
    Particles,
    RigidBoxes2D,
    pair_system,
    pendulum,
)
from tidal.physics.mpm import block  # noqa: E402


class Case:
    """One benchmark problem: a tidal model with data bound, the names whose gradient is
    taken, its per-step kernels (launched ``kernels(t)`` for every step under ti.ad.Tape),
    the gradient fields Taichi fills, and a JAX builder (None: no JAX version)."""

    def __init__(self, title, model, names, step_kernels, grad_fields, jax_builder,
                 first_kernels=()):
        self.title, self.model, self.names = title, model, names
        self.step_kernels, self.grad_fields, self.jax_builder = step_kernels, grad_fields, \
            jax_builder
        self.first_kernels = first_kernels  # launched once before the steps (no argument)

    def tidal(self):
        value, grads = self.model.loss_grad(self.names)
        return value, np.concatenate([np.ravel(g) for g in grads])

    def taichi(self):
        raw = [k.raw() for k in self.step_kernels]
        first = [k.raw() for k in self.first_kernels]
        mismatch = self.model.mismatch.raw()
        sim = self.model

        def value_and_grad():
            sim.reset()
            with ti.ad.Tape(loss=sim.loss):
                for k in first:
                    k()
                for t in range(sim.steps):
                    for k in raw:
                        k(t)
                mismatch()
            return float(sim.loss[None]), np.concatenate(
                [np.ravel(f()) for f in self.grad_fields])

        return value_and_grad


# -- the problems -------------------------------------------------------------------------------
def pendulum_case(experiments: int, steps: int) -> Case:
    rng = np.random.default_rng(0)
    y0 = np.column_stack([rng.uniform(-1.0, 1.0, experiments), rng.uniform(-1, 1, experiments)])
    truth = pendulum(length=1.5, damping=0.25, gravity=9.81, y0=y0, dt=0.01, steps=steps)
    data = truth.simulate() + 0.01 * rng.normal(size=truth.observation_shape)
    sim = pendulum(length=1.2, damping=0.2, gravity=9.81, y0=y0, dt=0.01, steps=steps)
    sim.observe(data)

    def jax_builder():
        import jax
        import jax.numpy as jnp

        d, dt = jnp.asarray(data), 0.01

        def rhs(y, p):
            return jnp.stack([y[:, 1], -p[2] / p[0] * jnp.sin(y[:, 0]) - p[1] * y[:, 1]], 1)

        def step(y, p):
            k1 = rhs(y, p)
            k2 = rhs(y + 0.5 * dt * k1, p)
            k3 = rhs(y + 0.5 * dt * k2, p)
            k4 = rhs(y + dt * k3, p)
            return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

        def loss(p):
            def body(y, _):
                y = step(y, p)
                return y, y
            _, ys = jax.lax.scan(body, jnp.asarray(y0), None, length=steps)
            states = jnp.concatenate([jnp.asarray(y0)[None], ys], 0).transpose(1, 0, 2)
            return jnp.sum((states - d) ** 2)

        fn = jax.jit(jax.value_and_grad(loss))
        p0 = jnp.array([1.2, 0.2, 9.81])
        return lambda: tuple(np.asarray(a, dtype=np.float64) for a in fn(p0))

    return Case(f"pendulum, RK4, {experiments} experiments x {steps} steps", sim,
                ["length", "damping", "gravity"], [sim.advance], [lambda: sim.P.grad.to_numpy()],
                jax_builder)


def mass_spring_case(nx: int, steps: int) -> Case:
    problem, k = peers.lattice_problem(nx, nx, steps=steps)
    sim = MassSpring(problem["positions"], problem["springs"], k, steps, dt=problem["dt"],
                     damping=problem["damping"], gravity=problem["gravity"],
                     anchored=np.flatnonzero(problem["free"] == 0.0), rest=problem["rest"])
    sim.observe(problem["target"])

    def jax_builder():
        fn = peers.jax_value_and_grad(problem)
        return lambda: fn(k)

    return Case(f"mass-spring, {nx}x{nx} lattice ({sim.m} springs) x {steps} steps", sim,
                ["stiffness"], [sim.forces, sim.moves], [lambda: sim.k.grad.to_numpy()],
                jax_builder)


def jax_lennard_jones(n: int):
    """The Lennard-Jones energy of ``n`` particles ``x`` with ``p = (epsilon, sigma)``, in JAX
    (every pair once)."""
    import jax.numpy as jnp

    iu, ju = np.triu_indices(n, 1)

    def energy(x, p):
        delta = x[iu] - x[ju]
        r = jnp.sqrt(jnp.sum(delta * delta, axis=1))
        s6 = (p[1] / r) ** 6
        return jnp.sum(4.0 * p[0] * (s6 * s6 - s6))

    return energy


def particles_case(n: int, steps: int) -> Case:
    rng = np.random.default_rng(1)
    side = int(np.ceil(np.sqrt(n)))
    grid = np.array([[i % side, i // side] for i in range(n)], dtype=np.float64) * 1.3
    x0 = grid + rng.uniform(-0.05, 0.05, grid.shape)
    truth = pair_system("lennard_jones", x0, epsilon=1.0, sigma=1.0, dt=0.005, steps=steps)
    data = truth.simulate()
    sim = pair_system("lennard_jones", x0, epsilon=1.1, sigma=0.97, dt=0.005, steps=steps)
    sim.observe(data)

    def jax_builder():
        import jax
        import jax.numpy as jnp

        d, dt, nd = jnp.asarray(data), 0.005, n * 2
        force = jax.grad(jax_lennard_jones(n))

        def accel(y, p):
            return -force(y[:nd].reshape(n, 2), p).reshape(-1) / p[2]

        def step(y, p):  # velocity Verlet as tidal's "leapfrog": kick, drift, kick
            v = y[nd:] + 0.5 * dt * accel(y, p)
            x = y[:nd] + dt * v
            v = v + 0.5 * dt * accel(jnp.concatenate([x, v]), p)
            return jnp.concatenate([x, v])

        def loss(p):
            def body(y, _):
                y = step(y, p)
                return y, y
            y0 = jnp.asarray(sim.get("y0")[0])
            _, ys = jax.lax.scan(body, y0, None, length=steps)
            return jnp.sum((jnp.concatenate([y0[None], ys], 0) - d[0]) ** 2)

        fn = jax.jit(jax.value_and_grad(loss))
        p0 = jnp.array([1.1, 0.97, 1.0])
        return lambda: (lambda v, g: (float(v), np.asarray(g)[:2]))(*fn(p0))

    return Case(f"Lennard-Jones, {n} particles in 2-D x {steps} steps", sim,
                ["epsilon", "sigma"], [sim.advance],
                [lambda: sim.P.grad.to_numpy()[:2]], jax_builder)


def diffusion_case(n: int, steps: int) -> Case:
    rng = np.random.default_rng(2)
    x = np.linspace(0.0, 1.0, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    kappa = 0.05 * (1.0 + 0.5 * np.sin(2 * np.pi * X) * np.cos(np.pi * Y))
    u0 = np.sin(np.pi * X) * np.sin(np.pi * Y)
    h = 1.0 / (n - 1)
    dt = 0.2 * h * h / kappa.max()
    data = Diffusion2D(kappa, u0, dt=dt, steps=steps).simulate()
    data = data + 0.01 * rng.normal(size=data.shape)
    start = 0.05 * np.ones((n, n))
    sim = Diffusion2D(start, u0, dt=dt, steps=steps)
    sim.observe(data)

    def jax_builder():
        import jax
        import jax.numpy as jnp

        r, d = dt / (h * h), jnp.asarray(data)

        def loss(K):
            def body(u, _):
                c = u[1:-1, 1:-1]
                kc = K[1:-1, 1:-1]
                flux = (0.5 * (kc + K[2:, 1:-1]) * (u[2:, 1:-1] - c)
                        + 0.5 * (kc + K[:-2, 1:-1]) * (u[:-2, 1:-1] - c)
                        + 0.5 * (kc + K[1:-1, 2:]) * (u[1:-1, 2:] - c)
                        + 0.5 * (kc + K[1:-1, :-2]) * (u[1:-1, :-2] - c))
                u = u.at[1:-1, 1:-1].set(c + r * flux)
                return u, u
            u0j = jnp.asarray(u0)
            _, us = jax.lax.scan(body, u0j, None, length=steps)
            return jnp.sum((jnp.concatenate([u0j[None], us], 0) - d) ** 2)

        fn = jax.jit(jax.value_and_grad(loss))
        k0 = jnp.asarray(start)
        return lambda: (lambda v, g: (float(v), np.asarray(g)))(*fn(k0))

    return Case(f"diffusion, {n}x{n} grid, kappa field x {steps} steps", sim, ["kappa"],
                [sim.advance], [lambda: sim.K.grad.to_numpy()], jax_builder)


def many_particles_case(n: int, steps: int) -> Case:
    x0 = 1.12 * np.argwhere(np.ones((int(np.sqrt(n)),) * 2)).astype(np.float64)
    x0 += np.random.default_rng(2).uniform(-0.05, 0.05, x0.shape)
    v0 = 0.3 * np.random.default_rng(3).standard_normal(x0.shape)
    data = Particles("lennard_jones", x0, steps=steps, dt=0.002, velocities=v0, epsilon=1.0,
                     sigma=1.0).simulate()
    sim = Particles("lennard_jones", x0, steps=steps, dt=0.002, velocities=v0, epsilon=1.1,
                    sigma=0.97)
    sim.observe(data)

    def jax_builder():
        import jax
        import jax.numpy as jnp

        d, dt = jnp.asarray(data), 0.002
        force = jax.grad(jax_lennard_jones(len(x0)))

        def loss(p):
            def body(state, _):
                x, v, a = state
                x = x + dt * v + 0.5 * dt * dt * a
                new_a = -force(x, p)
                v = v + 0.5 * dt * (a + new_a)
                return (x, v, new_a), x
            x = jnp.asarray(x0)
            _, xs = jax.lax.scan(body, (x, jnp.asarray(v0), -force(x, p)), None, length=steps)
            return jnp.sum((jnp.concatenate([x[None], xs], 0) - d) ** 2)

        fn = jax.jit(jax.value_and_grad(loss))
        p0 = jnp.array([1.1, 0.97])
        return lambda: (lambda v, g: (float(v), np.asarray(g)))(*fn(p0))

    return Case(f"Particles (fields), {len(x0)} LJ particles x {steps} steps", sim,
                ["epsilon", "sigma"], [sim.drift, sim.kick],
                [lambda: np.array([sim._scalars[n].grad[None] for n in ("epsilon", "sigma")])],
                jax_builder, first_kernels=[sim.start])


def mpm_case(steps: int) -> Case:
    pos = block((0.4, 0.22), (0.12, 0.12), 0.03)
    vel = np.tile([0.3, -2.0], (len(pos), 1))
    data = MPM2D(pos, steps=steps, E=150.0, grid=16, dt=1e-3, velocities=vel).simulate()
    sim = MPM2D(pos, steps=steps, E=120.0, grid=16, dt=1e-3, velocities=vel)
    sim.observe(data)
    return Case(f"MPM, {len(pos)} particles, 16x16 grid x {steps} steps", sim, ["E"],
                [sim.to_grid, sim.on_grid, sim.to_particles],
                [lambda: np.array([sim.E.grad[None]])], None)


def rigid_case(steps: int) -> Case:
    kw = dict(steps=steps, dt=2e-3, angles=[0.3, -0.2], spins=[1.0, 0.0],
              velocities=[[1.5, 0.0], [-1.0, 1.0]])
    ext, start = [[0.2, 0.1], [0.15, 0.15]], [[0.0, 0.6], [1.0, 0.4]]
    data = RigidBoxes2D(ext, start, mass=[1.0, 2.0], restitution=0.6, **kw).simulate()
    sim = RigidBoxes2D(ext, start, mass=[1.2, 1.8], restitution=0.5, **kw)
    sim.observe(data)
    return Case(f"rigid boxes, 2 bodies with contact x {steps} steps", sim,
                ["mass", "restitution"], [sim.advance],
                [lambda: sim.m.grad.to_numpy(), lambda: np.array([sim.e.grad[None]])], None)


def burgers_case(n: int, steps: int) -> Case:
    x = np.arange(n) / n
    u0 = 0.5 + np.sin(2 * np.pi * x)
    data = Burgers1D(0.02, u0, dt=0.002, steps=steps).simulate()
    sim = Burgers1D(0.025, u0, dt=0.002, steps=steps)
    sim.observe(data)
    return Case(f"Burgers, {n} cells x {steps} steps", sim, ["viscosity", "u0"],
                [sim.advance], [lambda: np.array([sim._fields["viscosity"].grad[None]]),
                                lambda: sim.U.grad.to_numpy()[0]], None)


# -- main ---------------------------------------------------------------------------------------
def _jax_available() -> bool:
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        return True
    except ImportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="tiny problems (a smoke test)")
    args = parser.parse_args()
    has_jax = _jax_available()
    s = 0.1 if args.small else 1.0
    # each case in a fresh runtime: a tape clears the gradients of every field there is
    cases = [lambda: pendulum_case(64, int(1000 * s)),
             lambda: mass_spring_case(10 if args.small else 16, int(1000 * s)),
             lambda: particles_case(4, int(1000 * s)),
             lambda: diffusion_case(16 if args.small else 32, int(400 * s)),
             lambda: many_particles_case(16 if args.small else 64, int(500 * s)),
             lambda: mpm_case(int(200 * s)),
             lambda: rigid_case(int(500 * s)),
             lambda: burgers_case(64, int(1000 * s))]
    print(f"tidal.physics loss + gradient, float64, CPU ({platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}, median of {args.repeats} "
          f"warm calls; JAX {'present' if has_jax else 'not installed'}\n")
    rows = []
    for make in cases:
        # a fixed autodiff stack: with Taichi's default (adaptive) size its adjoint of the
        # particles' force loop dies with a bus error at 64 particles
        td.init(arch="cpu", default_fp=td.f64, offline_cache=False, ad_stack_size=256)
        case = make()
        runs = {"tidal": case.tidal, "Taichi": case.taichi()}
        if has_jax and case.jax_builder is not None:
            runs["JAX"] = case.jax_builder()
        results, times = {}, {}
        for name, fn in runs.items():
            value, grad = fn()  # compiles
            results[name] = (value, np.ravel(grad))
            times[name] = median_ms(fn, repeats=args.repeats)
        ref_loss, ref_grad = results["tidal"]
        agreement = ", ".join(
            f"{name} loss {rel(v, ref_loss):.0e} grad {rel(g, ref_grad):.0e}"
            for name, (v, g) in results.items() if name != "tidal")
        print(f"{case.title}\n  agreement with tidal: {agreement}")
        rows.append((case.title, times))
    print(f"\n{'problem':<58} {'tidal':>10} {'Taichi':>10} {'JAX':>10} {'/Taichi':>8} "
          f"{'/JAX':>6}")
    for title, t in rows:
        jax_t = t.get("JAX")
        print(f"{title:<58} {t['tidal']:8.2f}ms {t['Taichi']:8.2f}ms "
              + (f"{jax_t:8.2f}ms" if jax_t else f"{'-':>10}")
              + f" {t['tidal'] / t['Taichi']:7.2f}x"
              + (f" {t['tidal'] / jax_t:5.2f}x" if jax_t else f" {'-':>6}"))
    print("\ntargets: tidal / Taichi at most 1.0, tidal / JAX at most 0.5")


if __name__ == "__main__":
    main()
