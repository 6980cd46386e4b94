"""The Kaggle rules read from source (grader/rules.py): what counts as torch's, what is the student's."""
import pytest

from grader.verdicts import rules

HEADER = "import torch\nimport torch.nn as nn\n\n\nclass BatchNorm2d(nn.Module):\n    pass\n\n\n"


def network(body: str, header: str = HEADER) -> str:
    return header + "class CatsDogsCNN(nn.Module):\n    def __init__(self):\n" + body


def names(source: str, roots=("CatsDogsCNN",), rule=rules.NORMALIZATION_RULE, skip=("BatchNorm2d",)):
    return [finding.name for finding in rules.find(source, list(roots), rule, skip)]


@pytest.mark.parametrize("source, expected", [
    (network("        self.bn = nn.BatchNorm2d(3)\n"), ["torch.nn.BatchNorm2d"]),
    (network("        self.bn = torch.nn.modules.batchnorm.BatchNorm2d(3)\n"),
     ["torch.nn.modules.batchnorm.BatchNorm2d"]),
    (network("        self.d = nn.Dropout2d(0.5)\n"), ["torch.nn.Dropout2d"]),
    (network("        self.g = nn.GroupNorm(1, 3)\n        self.l = nn.LayerNorm(3)\n"),
     ["torch.nn.GroupNorm", "torch.nn.LayerNorm"]),
    (network("        x = nn.functional.dropout(x, 0.5)\n"), ["torch.nn.functional.dropout"]),
    (network("        self.d = getattr(nn, 'Dropout')(0.5)\n"), ['getattr(..., "Dropout")']),
    (network("        x = torch.dropout_(x, 0.5, True)\n        s = torch.batch_norm_stats(x, 1e-5)\n"),
     ["torch.batch_norm_stats", "torch.dropout_"]),
    # tuple aliases and imports under a module-level try
    (network("        self.d = F.dropout\n", HEADER + "N, F = torch.nn, torch.nn.functional\n"),
     ["torch.nn.functional.dropout"]),
    (network("        self.n = LN(3)\n",
             HEADER + "try:\n    from torch.nn import LayerNorm as LN\nexcept ImportError:\n    LN = None\n"),
     ["torch.nn.LayerNorm"]),
    # aliases: from-imports, renamed imports, star imports, assignments, imports inside a method
    (network("        self.bn = BN(3)\n", HEADER + "from torch.nn import BatchNorm1d as BN\n"),
     ["torch.nn.BatchNorm1d"]),
    (network("        self.n = InstanceNorm2d(3)\n", HEADER + "from torch.nn import *\n"),
     ["torch.nn.InstanceNorm2d"]),
    (network("        self.d = F.dropout2d\n", HEADER + "F = torch.nn.functional\n"),
     ["torch.nn.functional.dropout2d"]),
    (network("        layers = torch.nn\n        self.d = layers.AlphaDropout(0.1)\n"),
     ["torch.nn.AlphaDropout"]),
    (network("        from torch.nn import LayerNorm\n        self.n = LayerNorm(3)\n"),
     ["torch.nn.LayerNorm"]),
    # reached through a module-level helper, a base class, or a module-level variable
    (network("        self.b = block(3)\n", HEADER + "def block(c):\n    return nn.BatchNorm2d(c)\n\n\n"),
     ["torch.nn.BatchNorm2d"]),
    (network("        self.b = NORM(3)\n", HEADER + "NORM = nn.SyncBatchNorm\n"), ["torch.nn.SyncBatchNorm"]),
    (HEADER + "class Norm(nn.LayerNorm):\n    pass\n\n\nclass CatsDogsCNN(nn.Module):\n"
     "    def __init__(self):\n        self.n = Norm(3)\n", ["torch.nn.LayerNorm"]),
])
def test_forbidden_names_are_found(source, expected):
    assert sorted(set(names(source))) == sorted(expected)


@pytest.mark.parametrize("source", [
    network("        self.bn = BatchNorm2d(3)\n        self.c = nn.Conv2d(3, 8, 3)\n"),
    network("        self.dropout = MyDropout(0.5)\n        y = self.dropout(x)\n"),
    network("        self.config = {'dropout': 0.5}\n        self.name = 'BatchNorm2d is mine'\n"),
    # the student's own BatchNorm2d overrides an earlier import of torch's
    network("        self.bn = BatchNorm2d(3)\n",
            "import torch\nimport torch.nn as nn\nfrom torch.nn import BatchNorm2d\n\n\n"
            "class BatchNorm2d(nn.Module):\n    pass\n\n\n"),
    # names that only look like torch's: a parameter under a star import, a parameter that
    # shadows an import, a class named to recognise it, a string that is not looked up
    network("        self.p = dropout\n", "import torch\nfrom torch.nn import *\n\n\n"
            "class BatchNorm2d(Module):\n    pass\n\n\n")
    .replace("__init__(self)", "__init__(self, dropout=0.3)"),
    network("        self.k = F(3)\n", HEADER + "from torch.nn.functional import dropout as F\n")
    .replace("__init__(self)", "__init__(self, F=int)"),
    network("        for m in self.modules():\n"
            "            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):\n                pass\n"),
    network("        if 'Adam' == 'BatchNorm2d':\n            raise ValueError('no Dropout here')\n"),
    # a forbidden name outside the code CatsDogsCNN reaches does not count
    network("        self.c = nn.Conv2d(3, 8, 3)\n", HEADER + "def unused():\n    return nn.Dropout()\n\n\n"),
])
def test_allowed_code_is_not_flagged(source):
    assert names(source) == []


def test_the_skipped_part_is_neither_searched_nor_followed():
    header = ("import torch\nimport torch.nn as nn\n\n\nclass BatchNorm2d(nn.Module):\n"
              "    def forward(self, x):\n        return nn.functional.batch_norm(x, None, None)\n\n\n")
    source = network("        self.bn = BatchNorm2d(3)\n", header)
    assert names(source) == []
    assert names(source, roots=["BatchNorm2d"], skip=()) == ["torch.nn.functional.batch_norm"]


@pytest.mark.parametrize("body, expected", [
    ("    return torch.optim.Adam(model.parameters())\n", ["torch.optim.Adam"]),
    ("    return optim.AdamW(model.parameters())\n", ["torch.optim.AdamW"]),
    ("    return Mine(model.parameters())\n", ["torch.optim.Adam"]),
    ("    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n", []),
    ("    return torch.optim.RMSprop(model.parameters())\n", []),
    ("    return OwnAdam(model.parameters())\n", []),
])
def test_adam_family_rule(body, expected):
    source = ("import torch\nfrom torch import optim\n\n\nclass Mine(torch.optim.Adam):\n    pass\n\n\n"
              "class OwnAdam(torch.optim.Optimizer):\n    def step(self):\n        pass\n\n\n"
              "class Adam:\n    pass\n\n\ndef make_cats_dogs_optimizer(model):\n" + body)
    assert names(source, ["make_cats_dogs_optimizer"], rules.ADAM_RULE, ()) == expected


def test_source_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "solution.py"
    path.write_bytes(b"\xef\xbb\xbf" + network("        self.bn = nn.BatchNorm2d(3)\n").encode())
    assert names(rules.read_source(path)) == ["torch.nn.BatchNorm2d"]


def test_unparsable_source_is_a_clear_error():
    with pytest.raises(rules.SourceError, match="cannot be parsed"):
        rules.find("class CatsDogsCNN(:\n", ["CatsDogsCNN"], rules.NORMALIZATION_RULE)
    deep = "x = " + "(" * 100_000 + ")" * 100_000 + "\n"
    with pytest.raises(rules.SourceError):
        rules.find(deep, ["x"], rules.NORMALIZATION_RULE)


def test_module_tree_classes():
    tree = [
        {"path": "", "module": "solution", "qualname": "CatsDogsCNN",
         "mro": ["solution.CatsDogsCNN", "torch.nn.modules.module.Module", "builtins.object"]},
        {"path": "features.1", "module": "solution", "qualname": "BatchNorm2d",
         "mro": ["solution.BatchNorm2d", "torch.nn.modules.batchnorm.BatchNorm2d"]},
        {"path": "features.2", "module": "solution", "qualname": "Norm",
         "mro": ["solution.Norm", "torch.nn.modules.normalization.GroupNorm"]},
        {"path": "head.0", "module": "torch.nn.modules.dropout", "qualname": "Dropout",
         "mro": ["torch.nn.modules.dropout.Dropout", "torch.nn.modules.dropout._DropoutNd"]},
        "not a dict",
    ]
    found = rules.library_classes(tree, rules.NORMALIZATION_RULE, own=["solution.BatchNorm2d"])
    assert found == ["features.2: solution.Norm (derives from torch.nn.modules.normalization.GroupNorm)",
                     "head.0: torch.nn.modules.dropout.Dropout"]
    sgd = {"module": "torch.optim.sgd", "qualname": "SGD", "mro": ["torch.optim.sgd.SGD"]}
    adamw = {"module": "torch.optim.adamw", "qualname": "AdamW", "mro": ["torch.optim.adamw.AdamW"]}
    assert rules.library_classes([sgd], rules.ADAM_RULE) == []
    assert len(rules.library_classes([adamw], rules.ADAM_RULE)) == 1
