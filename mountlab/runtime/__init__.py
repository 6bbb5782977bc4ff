"""The toy container runtime behind ``./container``: run, exec, ps, inspect, images, volumes.

Every volume it mounts goes through the active implementation of the steps (``mountlab.impl``),
so a learner sees their own code start a real container. Modules are imported lazily: a
``run`` must start about as fast as ``python3 -c pass``.
"""
