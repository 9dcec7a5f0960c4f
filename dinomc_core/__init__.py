"""dinomc_core: DINO-MC self-supervised learning for remote-sensing imagery, headless (library and CLIs)."""
from dinomc_core.errors import DinoMCError

__version__ = "0.1.0"


def load_model(path):
    """The encoder of a ``.dinomc`` file in eval mode, with its metadata on ``.metadata`` (see models.modelfile)."""
    from dinomc_core.models.modelfile import load_model as _load_model

    return _load_model(path)


__all__ = ["DinoMCError", "__version__", "load_model"]
