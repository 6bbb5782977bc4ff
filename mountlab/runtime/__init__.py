"""The toy container runtime behind ``./container``: run, exec, ps, inspect, images, volumes.

Every volume it mounts goes through the active implementation of the steps (``mountlab.impl``),
so a learner sees their own code start a real container. Modules are imported lazily: a
``run`` must start about as fast as ``python3 -c pass``.

Where each behaviour lives; ``run`` in the order a container starts (cli -> run -> plan ->
keeper -> mounts -> init -> execve)::

    __main__.py      python -m mountlab.runtime, what ./container execs
    cli.py           the command line: arguments, usage errors (125), dispatch to the modules
    run.py           container run, the runtime process: record, lock, supervision, clean-up
    plan.py          -v (through step 5) and --mount checked against the image; the plan, and
                     its JSON form for the keeper
    keeper.py        the keeper process: namespaces, overlay root, /dev, hostname, teardown
    mounts.py        tmpfs, volumes through step 4, read-only all the way down, teardown
    init.py          the container's PID 1: /proc, pivot_root, closed descriptors, execve
    signals.py       signals passed down the chain runtime -> keeper -> init; exit statuses
    errors.py        RunError, exit codes 125/126/127, the one-line messages
    learner.py       calling the learner's steps; "step N is not done yet" explained
    spec.py          --mount parsing, checks across all the mounts of a run
    rootfs.py        overlayfs, /dev, /proc, pivot_root, resolving a path inside a root
    namespaces.py    unshare, setns, hostname, parent-death signal
    state.py         where things are kept; container records and their locks
    containers.py    container ps, inspect, exec
    volumes.py       container volume create|ls|inspect|rm|prune
    images/          container image build|import|ls|rm (map in images/__init__.py)
"""
