"""Correct code in styles the grader had scored wrong (issue 24, section 3): each must keep every
point of the parts it implements."""
from __future__ import annotations

from conftest import WORKED_SOLUTION, grade_file, numpy_parts, part_scores, patched_solution

FLOAT32 = [
    ('            self.weights[f"W{layer_n}"] = w\n'
     '            self.weights[f"b{layer_n}"] = np.zeros((1, d_out))',
     '            self.weights[f"W{layer_n}"] = w.astype(np.float32)\n'
     '            self.weights[f"b{layer_n}"] = np.zeros((1, d_out), dtype=np.float32)'),
    ("        n_layers = self.n_hidden + 1\n        z = x\n",
     "        n_layers = self.n_hidden + 1\n        z = np.asarray(x, dtype=np.float32)\n"),
    ("        d_a = (output - labels) / batch_size",
     "        d_a = (output - np.asarray(labels, dtype=np.float32)) / batch_size"),
    ("        # BEGIN SOLUTION batchnorm\n        if train:",
     "        # BEGIN SOLUTION batchnorm\n        x = np.asarray(x, dtype=np.float32)\n        if train:"),
    ("        mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)",
     "        mask = ((self.rng.random(x.shape) >= self.p) / (1.0 - self.p)).astype(np.float32)"),
]
"""The worked solution computing in float32: weights, activations, gradients, batch norm and the
dropout mask (whose 1 / (1 - p) = 1.4285714 at p = 0.3 is 3e-8 from the float64 value)."""


def test_a_float32_solution_keeps_every_point_of_the_numpy_parts(tmp_path):
    path = patched_solution(tmp_path, FLOAT32)
    parts = numpy_parts()
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", ",".join(parts))
    assert data is not None, output[-3000:]
    scores = part_scores(data)
    lost = {part: score for part, score in scores.items() if score[0] != score[1]}
    assert not lost and set(scores) == set(parts), (lost, output[-4000:])


CAPITALIZED_NAMES = [
    ('activation="relu", init_method="glorot"', 'activation="ReLU", init_method="Glorot"'),
    ('if self.init_method == "zero":', 'if self.init_method == "Zeros":'),
    ('elif self.init_method == "normal":', 'elif self.init_method == "Normal":'),
    ('elif self.init_method == "glorot":', 'elif self.init_method == "Glorot":'),
    ('functions = {"relu": self.relu, "sigmoid": self.sigmoid, "tanh": self.tanh,\n'
     '                     "leaky_relu": self.leaky_relu}',
     'functions = {"ReLU": self.relu, "Sigmoid": self.sigmoid, "Tanh": self.tanh,\n'
     '                     "LeakyReLU": self.leaky_relu}'),
]
"""A template that accepts only ``'Glorot'``, ``'Normal'``, ``'Zeros'`` and ``'ReLU'``-style
activation names: the grader asks in the file's own spelling, and its reference answers in it."""


def test_a_file_with_its_own_capitalized_names_keeps_every_point(tmp_path):
    path = patched_solution(tmp_path, CAPITALIZED_NAMES)
    parts = [part for part in numpy_parts() if part not in ("batchnorm", "dropout")]
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", ",".join(parts))
    assert data is not None, output[-3000:]
    scores = part_scores(data)
    lost = {part: score for part, score in scores.items() if score[0] != score[1]}
    assert not lost and set(scores) == set(parts), (lost, output[-4000:])


def test_a_definition_that_raises_at_import_is_left_out_like_script_code(tmp_path):
    """Script code set ``data_dir``; a constant built from it (kept as a definition) raised
    NameError when the definitions ran alone, and the file was "not loaded": now that statement
    is left out too, the rest is graded, and the warning names the lines left out."""
    path = tmp_path / "solution.py"
    path.write_text(WORKED_SOLUTION.read_text() + '\ndata_dir = os.getcwd()\n'
                    'PATH = data_dir + "/mnist.pkl"\nmodel = NN(data=load_mnist_data(PATH))\n')
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", "softmax,loss")
    assert data is not None, output[-3000:]
    assert all(score == maximum for score, maximum in part_scores(data).values()), output[-3000:]
    warning = data["extra_data"]["nngrade"]["load_warning"]
    lines = len(WORKED_SOLUTION.read_text().splitlines())
    assert f"lines {lines + 2}-{lines + 4}" in warning or \
        f"lines {lines + 2}, {lines + 3}, {lines + 4}" in warning, warning


AS_LISTS = [
    ("        return e / np.sum(e, axis=-1, keepdims=True)\n",
     "        return (e / np.sum(e, axis=-1, keepdims=True)).tolist()\n"),
    ('            grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
     '            grads[f"db{layer_n}"] = [np.sum(d_a, axis=0)]'),
    ('            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]',
     '            self.weights[f"b{layer}"] -= self.lr * np.asarray(grads[f"db{layer}"])'),
]
"""Right values in lists: a softmax that returns its rows as a list, and bias gradients built as
one-element lists (both seen in real files), with an update that reads them."""


def test_right_values_in_a_list_cost_only_the_type_share(tmp_path):
    from grader.verdicts.scoring import TYPE_SHARE

    path = patched_solution(tmp_path, AS_LISTS)
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts",
                                    "softmax,forward,backward,update,train_loop")
    assert data is not None, output[-3000:]
    scores = part_scores(data)
    for part in ("softmax", "backward"):    # every test of these pays the share, and no more
        score, maximum = scores[part]
        assert abs(score - (1 - TYPE_SHARE) * maximum) < 0.3, (part, score, output[-3000:])
    for part in ("forward", "update", "train_loop"):
        assert scores[part][0] == scores[part][1], (part, output[-3000:])
    lost = [t["output"] for t in data["tests"] if t["score"] < t["max_score"]]
    assert all("returned a list, graded as the array" in text for text in lost), lost
