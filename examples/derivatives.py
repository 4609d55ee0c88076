"""tidal in one page: a function, its derivatives to any order, and their generated source.

Run: python examples/derivatives.py
Prints derivatives computed by tidal next to closed forms, and the generated Taichi source of
a third derivative.
"""

import numpy as np
import taichi as ti

import tidal as td

td.init(arch="cpu", default_fp=td.f64)


@td.func
def f(x: td.f64, y: td.f64) -> td.f64:
    return ti.sin(x * y) + x ** 3 / (1.0 + y * y)


dfdx = td.grad(f, argnums=0)                   # reverse mode: a tidal function (x, y) -> df/dx
d3 = td.derivative(f, argnums=0, order=3)      # third derivative in x, one Taylor pass
d2xy = td.grad(td.grad(f, argnums=0), argnums=1)  # reverse over reverse: d2f/dxdy
h = td.hessian(f, argnums=(0, 1))              # forward over reverse: 2x2 matrix

x, y = 0.3, 1.2
print("df/dx      tidal", dfdx(x, y), " closed form", y * np.cos(x * y) + 3 * x**2 / (1 + y * y))
print("d3f/dx3    tidal", d3(x, y), " closed form", -y**3 * np.cos(x * y) + 6 / (1 + y * y))
print("d2f/dxdy   tidal", d2xy(x, y), " closed form",
      np.cos(x * y) - x * y * np.sin(x * y) - 6 * x**2 * y / (1 + y * y) ** 2)
print("hessian\n", h(x, y))

print("\nGenerated source of the third derivative (td.source):\n")
print(td.source(d3))

xs = np.linspace(-1.0, 1.0, 100_000)
values = td.vectorize(d3)(xs, 1.2)             # one compiled kernel over the array
exact = -1.2**3 * np.cos(xs * 1.2) + 6 / (1 + 1.2**2)
print(f"over {xs.size} points: max |tidal - closed form| = {np.max(np.abs(values - exact)):.2e}")

derivs = td.taylor(f, order=6)(x, y)           # f, f', ..., f^(6) in x, in one pass
print("Taylor mode, derivatives 0..6 in x:", np.round(derivs, 6))
