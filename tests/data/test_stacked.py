import torch

from gankit.data import DataSpec, load_dataset
from tests.data.test_idx_dataset import isolated, write_split  # noqa: F401 - the fixture is used by name


def test_stacked_mnist_stacks_three_digits_and_encodes_their_labels(isolated):  # noqa: F811
    images, labels = write_split(isolated / "m")
    ds = load_dataset("stacked-mnist", DataSpec(data_dir=isolated / "m"))
    assert ds.x.shape == (5, 3, 28, 28) and ds.x.dtype == torch.uint8
    assert ds.num_classes == 1000 and ds.class_names[7] == "007"
    for i in range(5):
        picked = []
        for c in range(3):  # each channel is one of the MNIST images; its label is one decimal digit
            j = next(j for j in range(5) if torch.equal(ds.x[i, c], torch.from_numpy(images[j])))
            picked.append(int(labels[j]))
        assert int(ds.labels[i]) == picked[0] * 100 + picked[1] * 10 + picked[2]
    again = load_dataset("stacked-mnist", DataSpec(data_dir=isolated / "m"))
    assert torch.equal(again.x, ds.x)  # fixed seed: the same set on every load
