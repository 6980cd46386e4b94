"""The experiments part credits what the student's code did, never an outcome the submission can
fabricate (issue #23, section 4): two hostile submissions that implement none of Parts 1-2 and
fake every study's outcome each score 0 in the part. On b7acdd2, before the grader built the
"before" states and ran the controls itself, the first scored 21 / 21.

``tests/submissions/fabricated_experiments.py`` (its docstring lists the attacks), by study:

- initialization: ``train_loop`` writes weights instead of training (zeros, N(0, 1));
- finite differences: autograd's gradient plus a U-shaped error model, no difference computed;
- CNN vs MLP: class templates in a buffer, only a logit scale trainable;
- dogs vs. cats: a fixed orientation detector, only a logit scale trainable;
- batch norm: an affine map that normalizes nothing;
- optimizers: ``train_loop(0)`` / ``train_loop(k)`` leave weights of a chosen loss, and every
  optimizer class is plain SGD under another name.

``SECOND_ATTACKS`` turn it into a second submission that attacks the same studies otherwise.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import grade_file, part_scores, scores_by_test

pytestmark = pytest.mark.xdist_group("experiments")

FABRICATED = Path(__file__).parent / "submissions" / "fabricated_experiments.py"

SECOND_ATTACKS = (
    # initialization: an initializer that draws no method's law, chosen for the outcome (W1 = 0
    # silences the network whatever the rest; "normal" too large, "glorot" too small), and a
    # train_loop that only initializes
    ('''    def initialize_weights(self, dims):
        raise NotImplementedError("Part 1: initialize_weights")
''', '''    def initialize_weights(self, dims):
        rng = np.random.default_rng(self.seed)
        sizes = [dims[0], *self.hidden_dims, dims[1]]
        self.weights = {}
        for layer in range(1, len(sizes)):
            d_in, d_out = sizes[layer - 1], sizes[layer]
            if self.init_method == "zero":
                w = rng.normal(0.0, 1.0, (d_in, d_out)) if layer > 1 else np.zeros((d_in, d_out))
            elif self.init_method == "normal":
                w = rng.normal(0.0, 2.0, (d_in, d_out))
            else:
                bound = np.sqrt(6.0 / (d_in + d_out)) / 4
                w = rng.uniform(-bound, bound, (d_in, d_out))
            self.weights[f"W{layer}"] = w
            self.weights[f"b{layer}"] = np.zeros((1, d_out))
'''),
    ('''        dims = self._dims()
        rng = np.random.default_rng(0)
''', '''        dims = self._dims()
        if self.optimizer is None:
            self.initialize_weights([dims[0], dims[-1]])
            return self.train_logs
        rng = np.random.default_rng(0)
'''),
    # finite differences: the exact gradient from whatever backward the grader's retry provides
    ("        exact = self._autograd(x, labels, layer)[:p]\n",
     '        exact = self.backward(self.forward(x), labels)[f"dW{layer}"].ravel()[:p]\n'),
    # optimizers: a pull toward a fixed point (0) plus a plain step, under every optimizer's name
    ('                params[name] = params[name] - 0.5 * grads["d" + name]\n',
     '                params[name] = 0.9 * params[name] - 0.2 * grads["d" + name]\n'),
    # CNN vs MLP: the templates switched off at initialization (a logit scale of 0, so the
    # untrained network scores at chance) and switched on by training: only the renamed
    # classes show that nothing about the digits was learned
    ("        self.scale = torch.nn.Parameter(torch.ones(1))\n",
     "        self.scale = torch.nn.Parameter(torch.zeros(1))\n"),
    # batch norm: fixed constants in place of the batch's statistics
    ("        return x * self.weight.view(shape) + self.bias.view(shape)\n",
     "        return (x - 0.5) / 0.3 * self.weight.view(shape) + self.bias.view(shape)\n"),
    # dogs vs. cats: a network that learns, trained by an optimizer the grader cannot rebuild
    # (b7acdd2 trained it with its own SGD instead and gave full marks)
    ('''        self.scale = torch.nn.Parameter(torch.full((1,), 3.0))

    def forward(self, x):
        across_rows''', '''        self.scale = torch.nn.Parameter(torch.full((1,), 3.0))
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1, bias=False), BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1, bias=False), BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 2))

    def forward(self, x):
        return self.classifier(self.features(x))

    def fixed(self, x):
        across_rows'''),
    ('''def make_cats_dogs_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=10.0)
''', '''class PlainSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=0.05):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


def make_cats_dogs_optimizer(model):
    return PlainSGD(model.parameters(), lr=0.05)
'''),
)


def second_fabrication(tmp_path: Path) -> Path:
    text = FABRICATED.read_text()
    for old, new in SECOND_ATTACKS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "solution.py"
    path.write_text(text)
    return path


def outputs_by_test(data: dict) -> dict:
    return {t["extra_data"]["test"]: t.get("output", "") for t in data["tests"]}


def graded(path: Path, tmp_path: Path) -> tuple[dict, dict, str]:
    code, output, data = grade_file(path, tmp_path / "r.json", "--experiments", "--parts",
                                    "experiments")
    assert code == 1 and data is not None, output
    assert part_scores(data) == {"experiments": (0.0, 21.0)}, output
    assert all(score == 0 for score, _ in scores_by_test(data).values()), output
    return scores_by_test(data), outputs_by_test(data), output


def test_fabricated_outcomes_score_nothing(tmp_path):
    _, why, output = graded(FABRICATED, tmp_path)
    # each study is refused for the reason that its own fabrication needs
    assert "initialize_weights failed" in why["test_experiment_initialization"], output
    assert "does not compute a central difference" in why["test_experiment_finite_differences"]
    assert "not learned" in why["test_experiment_cnn_vs_mlp"], output
    assert "not learned" in why["test_experiment_cats_dogs"], output
    assert "does not normalize" in why["test_experiment_batch_norm"], output
    assert why["test_experiment_optimizers"].count("not along") >= 3, output   # they lower the loss


def test_other_fabrications_score_nothing(tmp_path):
    _, why, output = graded(second_fabrication(tmp_path), tmp_path)
    initialization = why["test_experiment_initialization"]
    assert "not all zeros" in initialization and "is not a draw of" in initialization, output
    # the retry may not hand finite_difference the reference's backward (the study's answer)
    assert "Part 1: backward" in why["test_experiment_finite_differences"], output
    assert "not learned" in why["test_experiment_cnn_vs_mlp"], output
    assert "cannot rebuild the optimizer" in why["test_experiment_cats_dogs"], output
    assert "does not normalize" in why["test_experiment_batch_norm"], output
    assert "AdaGrad: the training loss went from" in why["test_experiment_optimizers"], output
