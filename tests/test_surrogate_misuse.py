"""Misuse of the FNO and the DeepONet, from a user trial: each mistake raises a
TidalArgumentError saying what is wrong (with a hint), or behaves as documented.

Checkpoints: missing files, folders, files that are not checkpoints (a data set, a plain
``np.savez``, text), ``save("name")`` (NumPy writes ``name.npz``) then ``load("name")``, a save
into a folder that does not exist, the checkpoint of the other network or of another
architecture. Constructors: DeepONet's ``dtype``, both networks' seeds. Inputs: strings, objects
and complex numbers, the arguments of ``FNO.batch`` and ``FNO.predict_and_vjp``, one field
without its batch axis, no fields at all, channels first, and singular/plural in the messages.
"""

import warnings

import numpy as np
import pytest

import tidal as td
from tidal.surrogates import FNO, DeepONet

NETS = ("fno", "deeponet")


@pytest.fixture(scope="module")
def fno():
    return FNO(1, modes=3, width=4, layers=1, projection=5, dtype=td.f64)


@pytest.fixture(scope="module")
def fno2d():
    return FNO(2, modes=3, width=4, layers=1, projection=5, dtype=td.f64)


@pytest.fixture(scope="module")
def deeponet():
    return DeepONet(5, 1, width=4, p=3, dtype=td.f64)


@pytest.fixture
def net(request, fno, deeponet):
    return {"fno": fno, "deeponet": deeponet}[request.param]


def _raises(call, *fragments, hint=None):
    """``call()`` raises a TidalArgumentError whose message holds every fragment (and whose hint
    holds ``hint``); returns the error."""
    with pytest.raises(td.TidalArgumentError) as info:
        call()
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)
    if hint is not None:
        assert info.value.hint is not None and hint in info.value.hint, (hint, info.value.hint)
    return info.value


# -- 1. checkpoint files ---------------------------------------------------------------------------
@pytest.mark.parametrize("net", NETS, indirect=True)
def test_load_of_a_missing_file_or_a_folder_is_refused(net, tmp_path):
    _raises(lambda: net.load(tmp_path / "nope.npz"), "nope.npz not found",
            hint="path given to save()")
    _raises(lambda: net.load(tmp_path / "nope"), "nope not found (nor", hint="save()")
    net.save(tmp_path / "model.npz")
    _raises(lambda: net.load(tmp_path), "is a folder, not a file (it holds model.npz)",
            hint=".npz file")


@pytest.mark.parametrize("net", NETS, indirect=True)
def test_load_of_a_file_that_is_not_a_checkpoint_says_what_it_holds(net, tmp_path):
    model = type(net).__name__
    data = tmp_path / "data.npz"  # the arrays tidal.surrogates.save_dataset writes
    np.savez(data, inputs=np.zeros((2, 5)), outputs=np.zeros((2, 5)), kind=np.array("darcy"),
             format=np.array("tidal-surrogate-data-1"))
    _raises(lambda: net.load(data), f"not {'an' if model == 'FNO' else 'a'} {model} checkpoint",
            "no 'params' and 'arch' arrays", "'inputs', 'outputs'", "a surrogate data set",
            hint=f"written by {model}.save")
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    _raises(lambda: net.load(plain), "it holds 'a'")
    text = tmp_path / "text.npz"
    text.write_text("not a zip file")
    _raises(lambda: net.load(text), "not a .npz (zip) file", hint=f"written by {model}.save")


@pytest.mark.parametrize("net", NETS, indirect=True)
def test_save_without_suffix_and_into_a_new_folder_then_load_the_same_path(net, tmp_path):
    flat = net.get_flat()
    for path in (tmp_path / "noext", str(tmp_path / "new" / "deeper" / "model.npz")):
        net.save(path)
        net.set_flat(np.zeros_like(flat))
        net.load(path)
        np.testing.assert_array_equal(net.get_flat(), flat)
    assert (tmp_path / "noext.npz").is_file()  # NumPy's suffix; load took the path without it


# -- 2. the checkpoint of another network or architecture -----------------------------------------
def test_checkpoint_of_the_other_network_is_named_with_labelled_fields(fno, deeponet, tmp_path):
    fno.save(tmp_path / "fno.npz")
    deeponet.save(tmp_path / "deeponet.npz")
    _raises(lambda: fno.load(tmp_path / "deeponet.npz"),
            "holds a DeepONet(branch_sensors=5, trunk_dim=1, branch_width=4, branch_depth=1, "
            "trunk_width=4, trunk_depth=1, p=3, activation='relu', form='unstacked'), "
            "not an FNO", hint="load it into a DeepONet")
    _raises(lambda: deeponet.load(tmp_path / "fno.npz"),
            "holds an FNO(dim=1, modes=(3,), width=4, layers=1, in_channels=1, projection=5, "
            "activation='gelu', out_channels=1), not a DeepONet", hint="load it into an FNO")


def test_checkpoint_of_another_architecture_names_the_fields_that_differ(fno, deeponet,
                                                                         tmp_path):
    FNO(1, modes=3, width=8, layers=1, projection=5, out_channels=2).save(tmp_path / "f.npz")
    _raises(lambda: fno.load(tmp_path / "f.npz"), "holds an FNO(dim=1",
            "differs from this one in width (8 in the file, 4 here), out_channels (2 in the "
            "file, 1 here)", hint="checkpoint's architecture")
    DeepONet(5, 1, width=4, p=6, form="stacked").save(tmp_path / "d.npz")
    _raises(lambda: deeponet.load(tmp_path / "d.npz"), "holds a DeepONet(branch_sensors=5",
            "differs from this one in p (6 in the file, 3 here), form ('stacked' in the file, "
            "'unstacked' here)")


# -- 3. DeepONet's dtype --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, shown", [("f64", "'f64'"), (np.float64, "numpy.float64"),
                                          (td.i32, "td.i32")])
def test_deeponet_dtype_must_be_a_tidal_float_type(dtype, shown):
    _raises(lambda: DeepONet(4, 1, width=4, p=3, dtype=dtype), "dtype must be td.f32 or td.f64",
            shown, hint="dtype=td.f64")
    _raises(lambda: FNO(1, 3, width=4, layers=1, dtype=dtype), "dtype must be td.f32 or td.f64")
    # refused before any field was made: the runtime still works
    net = DeepONet(4, 1, width=4, p=3, dtype=td.f64)
    assert net.predict(np.zeros((1, 4)), np.zeros((2, 1))).shape == (1, 2)


# -- 4. seeds -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, "a", True, 1.5])
def test_seed_must_be_a_non_negative_int(seed, fno):
    _raises(lambda: FNO(1, 3, width=4, layers=1, seed=seed), "seed must be an int >= 0",
            f"got {seed!r}", hint="non-negative int")
    _raises(lambda: DeepONet(4, 1, width=4, p=3, seed=seed), "seed must be an int >= 0")
    _raises(lambda: fno.initialise(seed), "seed must be an int >= 0")


def test_numpy_int_seed_is_accepted():
    a = FNO(1, 3, width=4, layers=1, seed=np.int64(3))
    b = FNO(1, 3, width=4, layers=1, seed=3)
    np.testing.assert_array_equal(a.get_flat(), b.get_flat())


# -- 5. inputs that are not real numbers ----------------------------------------------------------
def test_non_numeric_inputs_are_refused(fno, deeponet):
    objects = np.array([[1.0, "a"]] * 2, dtype=object)
    for call, name in [(lambda: fno.predict("abc"), "inputs"),
                       (lambda: deeponet.predict("abc", np.zeros((3, 1))), "inputs"),
                       (lambda: deeponet.predict(np.zeros((2, 5)), "abc"), "points")]:
        _raises(call, f"{name} must be real numbers", "the string 'abc'",
                hint="np.asarray(values, dtype=float)")
    _raises(lambda: fno.predict(objects), "an object array that is not all numbers")
    _raises(lambda: deeponet.predict_pointwise(objects, np.zeros(2)),
            "an object array that is not all numbers")
    _raises(lambda: fno.predict([[0.0] * 8, [0.0] * 7]), "not a rectangular array")
    # objects that are numbers are fine
    assert fno.predict(np.zeros((2, 8)).astype(object)).shape == (2, 8)


def test_complex_inputs_are_refused_without_a_warning(fno, deeponet):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: an error before any cast
        _raises(lambda: fno.predict(np.ones((2, 8)) + 1j),
                "inputs must be real numbers, got complex values", hint="in_channels=2")
        _raises(lambda: deeponet.predict(np.ones((2, 5)) * 1j, np.zeros((3, 1))),
                "inputs must be real numbers, got complex", hint="np.real")
        _raises(lambda: deeponet.predict(np.ones((2, 5)), np.zeros((3, 1), complex)),
                "points must be real numbers, got complex")
        _raises(lambda: fno.vjp_input(np.ones((2, 8)), np.ones((2, 8)) * 1j),
                "cotangent must be real numbers, got complex")


# -- 6. FNO.batch and predict_and_vjp -------------------------------------------------------------
def test_batch_size_and_grid_are_checked(fno, fno2d):
    for n in (0, -1, 1.0):
        _raises(lambda n=n: fno.batch(n, (8,)), f"n must be a positive int, got {n!r}",
                hint="number of fields")
    assert fno.batch(2, 8) is fno.batch(2, (8,))  # an int grid of a 1-D FNO
    _raises(lambda: fno2d.batch(2, 8), "grid: the grid of a 2-D FNO is (S1, S2)")
    _raises(lambda: fno.batch(2, (8, 8)), "grid: the grid of a 1-D FNO is (S,) or S")
    _raises(lambda: fno.batch(2, (8.0,)), "(numbers of points, ints)")


def test_predict_and_vjp_needs_a_function_of_the_outputs(fno):
    a = np.ones((2, 8))
    _raises(lambda: fno.predict_and_vjp(a, np.ones((2, 8))), "cotangent_of must be a function "
            "of the outputs y", "got ndarray", hint="lambda y: c")
    y, g = fno.predict_and_vjp(a, lambda y: np.ones_like(y))
    np.testing.assert_allclose(g.reshape(2, 8), fno.vjp_input(a, np.ones((2, 8))))


# -- 7. one field without its batch axis ----------------------------------------------------------
def test_one_field_without_batch_axis_is_a_batch_of_one(fno, fno2d):
    a = np.sin(np.linspace(0.0, 3.0, 16))
    out = fno.predict(a)
    assert out.shape == (1, 16)
    np.testing.assert_array_equal(out, fno.predict(a[None]))
    np.testing.assert_array_equal(fno.predict(a[:, None]), out)  # (S, 1): its channel axis
    assert fno.vjp_input(a, np.ones(16)).shape == (16,)  # the inputs' shape
    b = np.cos(np.add.outer(np.arange(17), np.arange(17)) / 5.0)
    out2 = fno2d.predict(b)  # (S1, S2): a batch of a 2-D FNO has at least three axes
    assert out2.shape == (1, 17, 17)
    np.testing.assert_array_equal(out2, fno2d.predict(b[None]))


def test_one_field_with_several_channels(fno):
    two = FNO(1, modes=3, width=4, layers=1, projection=5, in_channels=2, dtype=td.f64)
    a = np.random.default_rng(0).normal(size=(16, 2))
    np.testing.assert_array_equal(two.predict(a), two.predict(a[None]))
    assert two.predict(a).shape == (1, 16)


# -- 8. messages -----------------------------------------------------------------------------------
def test_empty_inputs_say_there_are_no_fields(fno, deeponet):
    _raises(lambda: fno.predict(np.zeros((0, 32))),
            "no fields (0 rows) in inputs, of shape (0, 32)", hint="at least one field")
    _raises(lambda: deeponet.predict(np.zeros((0, 5)), np.zeros((3, 1))),
            "no functions (0 rows) in inputs")
    _raises(lambda: deeponet.predict(np.zeros((2, 5)), np.zeros((0, 1))),
            "no points (0 rows) in points")


def test_channels_first_inputs_get_the_moveaxis_hint():
    two = FNO(1, modes=3, width=4, layers=1, projection=5, in_channels=2, dtype=td.f64)
    _raises(lambda: two.predict(np.zeros((4, 2, 16))),
            "inputs must have shape (n, S, 2) (a batch of 1-D fields with 2 channels, channels "
            "last), got (4, 2, 16)", hint="np.moveaxis(inputs, 1, -1)")
    _raises(lambda: two.predict(np.zeros((2, 16))), "got (2, 16)",
            hint="np.moveaxis(inputs, 0, -1)")
    a = np.random.default_rng(1).normal(size=(4, 2, 16))
    assert two.predict(np.moveaxis(a, 1, -1)).shape == (4, 16)


def test_messages_count_in_the_singular_and_plural(fno, fno2d, deeponet):
    _raises(lambda: fno2d.predict(np.zeros((2, 8, 8, 3))), "with 1 channel, channels last")
    _raises(lambda: fno.predict(np.zeros((3, 1, 1))), "a grid of 1 point;")
    _raises(lambda: fno.check_grid((0,)), "a grid of 0 points;")
    _raises(lambda: deeponet.predict_pointwise(np.zeros((1, 5)), np.zeros((2, 1))),
            "1 input function but 2 points")
    _raises(lambda: deeponet.predict(np.zeros((2, 1)), np.zeros((2, 1))),
            "(one row of 5 sensor values per function)")
    _raises(lambda: fno.set_normalisers(input_mean=np.zeros((3, 3))),
            "of 1 input channel and 1 output channel")
    _raises(lambda: deeponet.predict(np.zeros((5, 3)), np.zeros((2, 1))), hint="inputs.T")
