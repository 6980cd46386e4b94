"""The oracles themselves, against hand-computed values and independent identities."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import distributions, mlp


def test_softmax_by_hand():
    np.testing.assert_allclose(mlp.softmax(np.array([0.0, math.log(2.0)])), [1 / 3, 2 / 3])
    np.testing.assert_allclose(mlp.softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


@settings(derandomize=True, max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
                  elements=st.floats(-50, 50)), st.floats(-100, 100))
def test_softmax_rows_sum_to_one_and_ignore_shifts(x, shift):
    p = mlp.softmax(x)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(mlp.softmax(x + shift), p, rtol=1e-9, atol=1e-15)


def test_activation_kinks_follow_the_pinned_conventions():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(mlp.activation("relu", x, grad=True), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(mlp.activation("leaky_relu", x, grad=True), [0.01, 0.01, 1.0])
    np.testing.assert_allclose(mlp.activation("leaky_relu", x), [-0.02, 0.0, 3.0])
    np.testing.assert_allclose(mlp.activation("sigmoid", np.array([0.0]), grad=True), [0.25])
    np.testing.assert_allclose(mlp.activation("tanh", np.array([0.0]), grad=True), [1.0])
    with pytest.raises(ValueError):
        mlp.activation("swish", x)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.sampled_from(mlp.ACTIVATIONS), hnp.arrays(np.float64, 6, elements=st.floats(-5, 5)))
def test_activation_derivatives_match_central_differences(name, x):
    x = x[np.abs(x) > 1e-3]  # away from the kinks
    h = 1e-6
    numeric = (mlp.activation(name, x + h) - mlp.activation(name, x - h)) / (2 * h)
    np.testing.assert_allclose(mlp.activation(name, x, grad=True), numeric, rtol=1e-5, atol=1e-8)


def test_backward_of_a_single_layer_is_the_softmax_formula():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=(1, 4))
    y = np.eye(4)[[0, 1, 2, 3, 0]]
    grads = mlp.backward({"W1": w, "b1": b}, x, y, "relu")
    d_a = (mlp.softmax(x @ w + b) - y) / 5
    np.testing.assert_allclose(grads["dA1"], d_a, rtol=1e-12)
    np.testing.assert_allclose(grads["dW1"], x.T @ d_a, rtol=1e-12)
    np.testing.assert_allclose(grads["db1"], d_a.sum(axis=0, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("name", mlp.ACTIVATIONS)
def test_central_differences_agree_with_autograd(name):
    rng = np.random.default_rng(1)
    dims = [4, 6, 5, 3]
    weights = {}
    for layer in range(1, 4):
        weights[f"W{layer}"] = rng.normal(size=(dims[layer - 1], dims[layer]))
        weights[f"b{layer}"] = rng.normal(size=(1, dims[layer]))
    x, y = rng.normal(size=(7, 4)), np.eye(3)[rng.integers(0, 3, 7)]
    estimates = mlp.central_differences(weights, x, y, name, 1e-6, 2, 12, 1e-12)
    exact = mlp.backward(weights, x, y, name)["dW2"].ravel()[:12]
    np.testing.assert_allclose(estimates, exact, rtol=1e-5, atol=1e-8)


def test_loss_clips_and_averages():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = -(math.log(1e-6) + math.log(0.5)) / 2
    assert mlp.mean_cross_entropy(p, y, 1e-6) == pytest.approx(expected, rel=1e-12)


def test_training_reaches_the_separable_problem():
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 1.5, (4, 10))
    labels = rng.integers(0, 4, 240)
    x, y = centers[labels] + rng.normal(size=(240, 10)), np.eye(4)[labels]
    start = mlp.initialize([10, 4], (32,), "glorot", 3)
    weights, logs = mlp.train(start, (x, y), (x, y), 8, 24, 0.3, "relu", 1e-6)
    assert logs["train_loss"][-1] < logs["train_loss"][0]
    assert logs["train_accuracy"][-1] > 0.9


def test_torch_sgd_update_is_the_plain_step_and_leaves_its_inputs():
    rng = np.random.default_rng(3)
    weights = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=(1, 4))}
    grads = {"dW1": rng.normal(size=(3, 4)), "db1": rng.normal(size=(1, 4)), "dA1": np.ones(2)}
    before = {k: v.copy() for k, v in weights.items()}
    updated = mlp.sgd_update(weights, grads, 0.25)
    for key in weights:
        np.testing.assert_allclose(updated[key], before[key] - 0.25 * grads["d" + key], rtol=1e-15)
        np.testing.assert_array_equal(weights[key], before[key])
    with pytest.raises(KeyError, match="no gradient db1"):
        mlp.sgd_update(weights, {"dW1": grads["dW1"]}, 0.1)


def test_torch_initializer_draws_each_law_reproducibly():
    zero = mlp.initialize([5, 3], (4,), "zero", 1)
    assert set(zero) == {"W1", "b1", "W2", "b2"} and not any(v.any() for v in zero.values())
    glorot = mlp.initialize([300, 3], (200,), "glorot", 7)
    assert glorot["W1"].shape == (300, 200) and glorot["b1"].shape == (1, 200)
    bound = mlp.glorot_bound(300, 200)
    assert np.abs(glorot["W1"]).max() <= bound and np.abs(glorot["W1"]).max() > 0.99 * bound
    np.testing.assert_array_equal(glorot["W1"], mlp.initialize([300, 3], (200,), "glorot", 7)["W1"])
    assert not np.array_equal(glorot["W1"], mlp.initialize([300, 3], (200,), "glorot", 8)["W1"])
    normal = mlp.initialize([300, 3], (200,), "normal", 7)["W1"]
    assert abs(normal.std() - 1.0) < 0.02 and abs(normal.mean()) < 0.02
    with pytest.raises(ValueError, match="unknown init_method"):
        mlp.initialize([5, 3], (4,), "he", 1)


def test_torch_train_loop_is_minibatch_sgd_in_data_order():
    """The torch loop (DataLoader, torch.optim.SGD) takes the same steps as backward + update
    over the minibatches in order, the last one smaller, and logs after every epoch."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(23, 5)), np.eye(3)[rng.integers(0, 3, 23)]
    start = mlp.initialize([5, 3], (6,), "glorot", 2)
    weights, logs = mlp.train(start, (x, y), (x[:9], y[:9]), 2, 10, 0.2, "tanh", 1e-6)
    manual = start
    for _ in range(2):
        for first in range(0, 23, 10):
            grads = mlp.backward(manual, x[first:first + 10], y[first:first + 10], "tanh")
            manual = mlp.sgd_update(manual, grads, 0.2)
    for key in start:
        np.testing.assert_allclose(weights[key], manual[key], rtol=1e-12, atol=1e-14)
    loss, accuracy, predictions = mlp.loss_and_accuracy(manual, x[:9], y[:9], "tanh", 1e-6)
    assert logs["validation_loss"][-1] == pytest.approx(loss, rel=1e-12)
    assert logs["validation_accuracy"][-1] == accuracy == np.mean(predictions == y[:9].argmax(1))
    assert all(len(values) == 2 for values in logs.values())


def test_derivative_at_the_activation_is_the_named_mistake():
    rng = np.random.default_rng(6)
    weights = {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=(1, 5)),
               "W2": rng.normal(size=(5, 3)), "b2": rng.normal(size=(1, 3))}
    x, y = rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    right = mlp.backward(weights, x, y, "sigmoid")
    wrong = mlp.backward(weights, x, y, "sigmoid", derivative_at="activation")
    z1 = mlp.forward(weights, x, "sigmoid")["Z1"]
    np.testing.assert_allclose(wrong["dA1"], right["dZ1"] * mlp.activation("sigmoid", z1, grad=True),
                               rtol=1e-12)
    np.testing.assert_allclose(wrong["dW2"], right["dW2"], rtol=1e-12)
    assert not np.allclose(wrong["dW1"], right["dW1"])


def test_statistical_checks_pass_correct_and_fail_wrong_samples():
    law = distributions.weight_distribution("glorot", 300, 200)
    rng = np.random.RandomState(0)
    good = rng.uniform(law.low, law.high, size=(300, 200))
    assert all(c.passed for c in distributions.check_sample(good, law, 1e-6))
    narrow = rng.uniform(law.low * 0.9, law.high * 0.9, size=(300, 200))
    assert not all(c.passed for c in distributions.check_sample(narrow, law, 1e-6))
    normal = distributions.weight_distribution("normal", 300, 200)
    assert not all(c.passed for c in distributions.check_sample(good, normal, 1e-6))
    assert distributions.two_sided_z(0.05) == pytest.approx(1.959964, abs=1e-5)


def test_false_alarm_rate_is_as_stated():
    """At alpha = 0.05 a correct sampler fails each check about 5 % of the time, not more."""
    law = distributions.weight_distribution("glorot", 40, 50)
    rng = np.random.RandomState(5)
    failures = np.zeros(4)
    trials = 400
    for _ in range(trials):
        checks = distributions.check_sample(rng.uniform(law.low, law.high, (40, 50)), law, 0.05)
        failures += [not c.passed for c in checks]
    rates = failures / trials
    assert rates[0] == 0                      # the bounds are never crossed
    assert np.all(rates[1:] < 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)), rates


def test_rmsprop_nesterov_reference_by_hand():
    """Three steps worked out on paper: theta0 = 1, g = 1, 2, -1, lr = 0.1, alpha = momentum = 0.5,
    eps = 0. r = 0.5, 2.25, 1.625; v = -0.1414214, -0.2040440, -0.0235756;
    theta = 1 + 1.5 v1 = 0.7878680; 0.7878680 + 1.5 v2 - 0.5 v1 = 0.5525126;
    0.5525126 + 1.5 v3 - 0.5 v2 = 0.6191713."""
    from reference import optim

    steps = optim.trajectory("RMSPropNesterov", {"lr": 0.1, "alpha": 0.5, "momentum": 0.5,
                                                 "eps": 0.0},
                             {"w": np.array([1.0])}, [{"dw": np.array([g])} for g in (1.0, 2.0, -1.0)])
    np.testing.assert_allclose([s["w"][0] for s in steps], [0.7878680, 0.5525126, 0.6191713],
                               atol=5e-7)


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta",
                                  "Adam"])
def test_optimizer_references_leave_zero_gradients_alone_without_state(name):
    from reference import optim

    start = {"w": np.array([0.5, -0.25])}
    steps = optim.trajectory(name, {"lr": 0.1}, start, [{"dw": np.zeros(2)}] * 3)
    np.testing.assert_allclose(steps[-1]["w"], start["w"])


def test_training_loop_learns_and_reports(capsys):
    import torch

    from reference.data.cats_dogs import striped_images
    from reference.training import evaluate, fit, pick_device

    images, labels = striped_images(96, size=32, seed=3)
    data = torch.utils.data.TensorDataset(torch.tensor(images), torch.tensor(labels))
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveMaxPool2d(4), torch.nn.Flatten(), torch.nn.Linear(128, 2))
    before = evaluate(model, loader, torch.device("cpu"))
    history = fit(model, loader, torch.optim.Adam(model.parameters(), lr=0.01), 8,
                  valid_loader=loader, device=torch.device("cpu"), progress=True)
    assert [entry["epoch"] for entry in history] == list(range(1, 9))
    assert all(entry["images"] == 96 and entry["images_per_second"] > 0 for entry in history)
    assert history[-1]["valid_loss"] < before["loss"]
    assert history[-1]["valid_accuracy"] >= 0.8
    assert "epoch 8/8" in capsys.readouterr().err  # the progress bar
    assert pick_device().type in ("cpu", "cuda")
