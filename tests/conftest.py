import torch

# The test models are tiny: one thread is fastest for them, and it keeps the suite from
# oversubscribing a shared 2-core machine.
torch.set_num_threads(1)
