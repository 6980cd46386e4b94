"""A network whose cost the grader's proxy misses is graded in bounded time, as the student's
verdict (issue 23, section 2).

The meta-device measure prices convolutions and matrix products (FLOPs) and bounds the numbers
the layers hold; it does not price a pooling window. This MnistCNN passes every size check (a few
thousand parameters of convolution, 6 M numbers per image) but pools 120 times with a 27 x 27
window at stride 1: some 9 G comparisons per image, about 20 minutes of CPU for one held-out
evaluation of 500 digits. Before the metered child, the grader ran that evaluation (and the first
training batch) in its own process with no meter inside it. Now every run on data goes through the
child, stopped at what is left of the part's budget.
"""
from __future__ import annotations

import time

from conftest import grade_file, patched_solution

HEAVY_POOLING = (
    '        """``x`` (N, 1, 28, 28) -> logits (N, 10)."""\n        # BEGIN SOLUTION mnist_cnn\n'
    "        return self.classifier(self.features(x))\n",
    "        x = torch.nn.functional.relu(self.wide(x))\n"
    "        for _ in range(120):\n"
    "            x = self.pool(x)\n"
    "        return self.classifier(self.features(x[:, :1]))\n",
)
WIDE_LAYER = (
    "        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 160), nn.ReLU(),\n",
    "        self.wide = nn.Conv2d(1, 64, kernel_size=3, padding=1)\n"
    "        self.pool = nn.MaxPool2d(27, stride=1, padding=13)\n"
    "        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 160), nn.ReLU(),\n",
)


def test_a_network_the_proxy_does_not_price_is_stopped_at_its_budget(tmp_path):
    heavy = patched_solution(tmp_path, [WIDE_LAYER, HEAVY_POOLING])
    started = time.monotonic()
    # Budgets at 5 %: mnist_cnn may spend 12 CPU s (the worked solution needs about 10 s at
    # full budget, so its learning run would not fit either: this file is only about the meter).
    code, output, data = grade_file(heavy, tmp_path / "results.json", "--parts", "mnist_cnn",
                                    "--budget-scale", "0.05", timeout=300)
    seconds = time.monotonic() - started
    assert data is not None and data["extra_data"]["nngrade"]["status"] == "graded", output[-3000:]
    tests = {t["extra_data"]["test"]: t for t in data["tests"]}
    learns = tests["test_mnist_cnn_learns"]
    assert learns["score"] == 0
    assert "used its whole budget of 12 CPU s in mnist_cnn" in learns["output"], learns["output"]
    spent = data["extra_data"]["nngrade"]["sandbox"]["spent"]["cpu_s_by_part"]["mnist_cnn"]
    assert 12 <= spent < 20, spent
    assert seconds < 240, seconds
