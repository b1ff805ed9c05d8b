"""Test-session settings shared by the unit tests and the notebook runs (nbval)."""

import os

# The suite is the offline course: a server configured in .env must not leak into the
# notebooks' kernels (they inherit this environment) or into any test.
os.environ["LLM_BACKEND"] = "simulated"
