"""k-means clusters: planted groups are found, ids are nearest centres, runs repeat exactly."""

import pytest
import torch

from gankit.data.clusters import assign, kmeans
from gankit.errors import UserError


def planted_points(n_per=(300, 200, 100), seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([m + 0.5 * torch.randn(k, 2, generator=g) for m, k in zip(means, n_per)])
    truth = torch.cat([torch.full((k,), i) for i, k in enumerate(n_per)])
    return x, truth, means


def test_finds_planted_groups_their_shares_and_means():
    x, truth, means = planted_points()
    found = kmeans(x, 3, seed=0)
    # each found cluster holds exactly one planted group (up to the order of the clusters)
    pairs = torch.stack([found.ids, truth], 1).unique(dim=0)
    assert len(pairs) == 3 and len(pairs[:, 0].unique()) == 3
    to_planted = {int(c): int(t) for c, t in pairs}
    assert torch.allclose(found.prior, torch.tensor([300, 200, 100.0])[[to_planted[i] for i in range(3)]] / 600)
    for c in range(3):
        assert torch.allclose(found.centers[c], means[to_planted[c]], atol=0.15)


def test_ids_are_the_nearest_centres_and_runs_repeat():
    x, _, _ = planted_points()
    a, b = kmeans(x, 5, seed=3), kmeans(x, 5, seed=3)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.centers, b.centers)
    d = torch.cdist(x, a.centers)
    assert torch.equal(a.ids, d.argmin(1))
    assert torch.equal(assign(x, a.centers), a.ids)
    assert abs(float(a.prior.sum()) - 1) < 1e-6


def test_images_cluster_in_model_range():
    # two kinds of 8x8 images: bright left half or bright right half, with noise
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 40, (40, 1, 8, 8), generator=g, dtype=torch.uint8)
    x[:20, :, :, :4] += 200
    x[20:, :, :, 4:] += 200
    found = kmeans(x, 2, seed=0)
    assert found.ids[:20].unique().numel() == 1 and found.ids[20:].unique().numel() == 1
    assert found.ids[0] != found.ids[-1]
    assert found.centers.shape == (2, 64) and found.centers.min() >= -1 and found.centers.max() <= 1


def test_more_clusters_than_distinct_items_still_works():
    x = torch.zeros(10, 2)
    x[5:] = 1
    found = kmeans(x, 4, seed=0)
    assert found.ids.shape == (10,) and torch.isfinite(found.centers).all()


@pytest.mark.parametrize("k", [1, 11])
def test_cluster_count_out_of_range_is_a_user_error(k):
    with pytest.raises(UserError, match="clusters must be between 2 and"):
        kmeans(torch.randn(10, 2), k)
