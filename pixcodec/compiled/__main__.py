"""`python -m pixcodec.compiled`: compiles the engine's kernels ahead of time for this CPU;
with --status, says how they run here instead."""
import sys

if sys.argv[1:] == ["--status"]:
    from . import describe
    print(f"pixcodec's kernels: {describe()}")
    sys.exit(0)
if sys.argv[1:]:
    print("usage: python -m pixcodec.compiled [--status]", file=sys.stderr)
    sys.exit(2)

from .build import main  # noqa: E402  (numba and the compiler only for a build)

sys.exit(main())
