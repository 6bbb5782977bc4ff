"""Where code runs during a check, and what it may touch.

- ``check``: one graded check: the check's code in a checker process, learner code in a subject
  process that is unprivileged and sees only its scratch; verdicts decided from outside.
- ``contain``: the recipe of both processes, step by step; each step lives in a module named for it:
  ``userns`` (who they are), ``mnt`` (what they see), ``limits`` (what they may consume).
- ``subject``: the subject's program; ``remote``: the checker's side of its channel; ``wire``: the
  JSON frames between them; ``raised``: exceptions carried as data; ``observe``: how the checker
  reads /proc once inside the subject's mount namespace.
- ``throwaway``: a throwaway mount namespace for the kit's own trusted code (notebooks, doctor,
  the kit's tests).
"""

from mountlab.sandbox.throwaway import (
    ChildRaised,
    SandboxError,
    SandboxTimeout,
    enter_private_mount_namespace,
    format_exception,
    leftover_processes,
    protect_host_root,
    run,
)

__all__ = ["ChildRaised", "SandboxError", "SandboxTimeout", "enter_private_mount_namespace",
           "format_exception", "leftover_processes", "protect_host_root", "run"]
