"""A model made before td.init runs again (a notebook cell re-run) holds fields of a Taichi
program that is gone: using it must raise a TidalError that says what to do, never read or
write freed memory (before: garbage values, "Could not allocate list object", raw errors)."""

import numpy as np
import pytest
import taichi as ti

import tidal as td
from tidal.solvers import MLP
from tidal.surrogates import FNO, DeepONet


def test_a_network_from_before_init_is_refused_and_a_new_one_works():
    td.init(arch="cpu", default_fp=td.f64)
    net = MLP(2, width=4, depth=2, seed=3)
    flat = net.get_flat()
    td.init(arch="cpu", default_fp=td.f64)
    for use in (net.get_flat, lambda: net.set_flat(flat), net.grad_flat):
        with pytest.raises(td.TidalError, match="made before td.init") as info:
            use()
        assert "make the model again" in info.value.hint
    again = MLP(2, width=4, depth=2, seed=3)
    np.testing.assert_array_equal(again.get_flat(), flat)


@pytest.mark.parametrize("make, predict", [
    (lambda: FNO(1, modes=3, width=4, layers=1, dtype=td.f64),
     lambda net: net.predict(np.zeros((2, 8)))),
    (lambda: DeepONet(5, 1, width=4, p=3, dtype=td.f64),
     lambda net: net.predict(np.zeros((2, 5)), np.zeros((3, 1)))),
])
def test_surrogates_from_before_init_are_refused(make, predict):
    td.init(arch="cpu", default_fp=td.f64)
    net = make()
    expected = predict(net)
    td.init(arch="cpu", default_fp=td.f64)
    for use in (lambda: predict(net), net.get_flat):
        with pytest.raises(td.TidalError, match="made before td.init"):
            use()
    np.testing.assert_allclose(predict(make()), expected, rtol=0, atol=0)


def test_an_fno_made_before_any_init_initialises_the_cpu(tmp_path):
    # before: Taichi's "Cannont create field, maybe you forgot to call `ti.init()` first?"
    import subprocess
    import sys
    script = ("import numpy as np\n"
              "from tidal.surrogates import FNO\n"
              "net = FNO(1, modes=3, width=4, layers=1)\n"
              "print(net.predict(np.zeros((2, 8))).shape)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(2, 8)"


def test_a_kernel_using_a_network_from_before_init_is_refused_at_compile():
    # before: the kernel compiled against the freed fields
    td.init(arch="cpu", default_fp=td.f64)
    vec = td.vec(1, td.f64)

    def kernel_of(net):
        @td.kernel
        def evaluate(xs: ti.types.ndarray(dtype=vec, ndim=1),
                     out: ti.types.ndarray(dtype=td.f64, ndim=1)):
            for i in range(xs.shape[0]):
                out[i] = net.func(xs[i])
        return evaluate

    net = MLP(1, width=4, depth=2, seed=1, dtype=td.f64)
    evaluate = kernel_of(net)
    xs, out = np.linspace(0.0, 1.0, 5)[:, None], np.zeros(5)
    evaluate(xs, out)
    expected = out.copy()
    td.init(arch="cpu", default_fp=td.f64)
    with pytest.raises(td.TidalError, match="made before td.init") as info:
        evaluate(xs, out)
    assert "make the model again" in info.value.hint
    out[:] = 0.0
    kernel_of(MLP(1, width=4, depth=2, seed=1, dtype=td.f64))(xs, out)
    np.testing.assert_array_equal(out, expected)
