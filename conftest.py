# Loads the grading plugin for every pytest run in this repository (steps/, tests/, notebooks/).
pytest_plugins = ["mountlab.grading.plugin"]
