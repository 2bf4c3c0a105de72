"""Test-wide settings."""

import torch

# The suite runs as `pytest -n 2` on 2 cores: one intra-op thread per worker avoids
# oversubscription, which on tiny networks costs far more than it gains (measured 5-20x).
torch.set_num_threads(1)
