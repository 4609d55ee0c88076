"""Neural-operator surrogates: the training-data generators (random fields, the Darcy,
Burgers, antiderivative and diffusion-reaction data of the FNO and DeepONet papers) and the
data-set layer (parallel generation, ``.npz`` files). docs/surrogates.md describes them."""

from tidal.surrogates.burgers import burgers_sample, solve_burgers
from tidal.surrogates.darcy import darcy_matrix, darcy_sample, solve_darcy
from tidal.surrogates.data import (
    KINDS,
    Dataset,
    Kind,
    generate,
    load_dataset,
    sample_rng,
    save_dataset,
)
from tidal.surrogates.deeponet import DeepONet, relu
from tidal.surrogates.diffusion_reaction import diffusion_reaction_sample, solve_diffusion_reaction
from tidal.surrogates.fitting import OperatorModel
from tidal.surrogates.fno import FNO, gelu
from tidal.surrogates.grf import grf_1d, grf_2d, grf_rbf, threshold
from tidal.surrogates.integral import antiderivative, antiderivative_sample
from tidal.surrogates.physics_informed import (
    PhysicsInformed,
    PointCondition,
    diffusion_reaction_points,
    diffusion_reaction_residual,
    diffusion_reaction_sources,
)
from tidal.surrogates.supervised import Supervised

__all__ = ["FNO", "KINDS", "Dataset", "DeepONet", "Kind", "OperatorModel", "PhysicsInformed",
           "PointCondition", "Supervised",
           "antiderivative", "antiderivative_sample", "burgers_sample", "darcy_matrix",
           "darcy_sample", "diffusion_reaction_points",
           "diffusion_reaction_residual", "diffusion_reaction_sample",
           "diffusion_reaction_sources", "gelu", "generate", "grf_1d", "grf_2d",
           "grf_rbf", "load_dataset", "relu", "sample_rng", "save_dataset", "solve_burgers",
           "solve_darcy", "solve_diffusion_reaction", "threshold"]
