"""``import labkit`` from a French notebook: the shared ``notebooks/labkit.py``, speaking French.

The kernel of a notebook in this folder runs here, so ``import labkit`` finds this file. It loads
the one shared module under the same name (nothing is copied) and sets its language.
"""

from __future__ import annotations

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

_spec = spec_from_file_location(__name__, Path(__file__).resolve().parent.parent / "labkit.py")
_shared = module_from_spec(_spec)
sys.modules[__name__] = _shared  # ``import labkit`` returns the shared module, not this one
_spec.loader.exec_module(_shared)
_shared.set_language("fr")
