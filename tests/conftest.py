import pytest
import torch

# The test models are tiny: one thread is fastest for them, and it keeps the suite from
# oversubscribing a shared 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fuzz_cache(tmp_path_factory):
    """A GANKIT_CACHE folder shared by the fuzz corpora, so eval's digits classifier trains once."""
    return tmp_path_factory.mktemp("fuzz-cache")
