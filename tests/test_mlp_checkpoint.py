"""MLP.save / MLP.load with the paths and files a user gets wrong: each a TidalArgumentError
saying what the file is (before: FileNotFoundError, IsADirectoryError, KeyError, a pickle
ValueError), and the same path for save and load, with or without the .npz suffix."""

import numpy as np
import pytest

import tidal as td
from tidal.solvers import MLP


@pytest.fixture
def net(cpu64):
    return MLP(2, width=5, depth=2, seed=4)


def test_save_and_load_the_same_path_without_suffix_into_a_new_folder(net, tmp_path):
    path = tmp_path / "new" / "deeper" / "mlp"
    net.save(path)
    other = MLP(2, width=5, depth=2, seed=9)
    assert not np.array_equal(other.get_flat(), net.get_flat())
    other.load(path)
    np.testing.assert_array_equal(other.get_flat(), net.get_flat())


def test_bad_paths_and_files_are_refused(net, tmp_path):
    with pytest.raises(td.TidalArgumentError, match="nope not found"):
        net.load(tmp_path / "nope")
    with pytest.raises(td.TidalArgumentError, match="is a folder, not a file"):
        net.load(tmp_path)
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(td.TidalArgumentError, match=r"not a \.npz \(zip\) file"):
        net.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, params=np.zeros(3))
    with pytest.raises(td.TidalArgumentError, match="is not an MLP checkpoint: it lacks 'in_dim'"):
        net.load(plain)
    wider = tmp_path / "wider.npz"
    MLP(2, width=6, depth=2).save(wider)
    with pytest.raises(td.TidalArgumentError, match="holds a network"):
        net.load(wider)
