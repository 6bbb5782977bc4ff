import sys

# The grading plugin, for every pytest run in this repository (steps/, tests/, notebooks/), and
# the backends' (--backend: where the checks get a kernel in which they may mount).
pytest_plugins = ["mountlab.grading.plugin", "mountlab.backends.plugin"]

# nbval is kept off by default (see addopts in pyproject.toml): its import costs seconds on every
# run. It comes back for the runs that ask for it.
if any(arg.startswith("--nbval") for arg in sys.argv[1:]):
    pytest_plugins.append("nbval.plugin")
