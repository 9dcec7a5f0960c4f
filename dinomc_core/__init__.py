"""dinomc_core: DINO-MC self-supervised learning for remote-sensing imagery, headless (library and CLIs)."""
import os

# OpenMP threads that spin while they wait make CPU runs many times slower as soon as anything else shares the cores
# (pretraining: 0.19 against 2.1 images/s; tiled inference starves its reader and writer threads; see
# docs/benchmarks.md). It must be set before torch starts OpenMP, so here, before any submodule imports torch.
# A user's own OMP_WAIT_POLICY (ACTIVE on a dedicated machine) wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dinomc_core.errors import DinoMCError

__version__ = "0.1.0"


def load_model(path):
    """The encoder of a ``.dinomc`` file in eval mode, with its metadata on ``.metadata`` (see models.modelfile)."""
    from dinomc_core.models.modelfile import load_model as _load_model

    return _load_model(path)


__all__ = ["DinoMCError", "__version__", "load_model"]
