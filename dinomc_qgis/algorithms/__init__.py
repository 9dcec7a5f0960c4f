"""Processing algorithms of the ``dinomc`` provider: each resolves parameters, calls dinomc_core, returns outputs."""
