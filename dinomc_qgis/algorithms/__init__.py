"""Processing algorithms of the ``dinomc`` provider: each turns its parameters into one CLI call of the worker."""
