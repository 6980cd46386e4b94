"""The bank of realistic buggy submissions: each is the worked solution with one classic mistake.

A bug is a list of exact text replacements in ``solution.py`` (each must match once), the part
that must lose points because of it, and words its diagnosis must contain. Kept as patches
rather than near-copies of the solution, so a change to the solution cannot silently leave the
bank testing stale code (a patch that no longer applies fails loudly).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    name: str
    part: str
    why: str
    says: str            # words of the diagnosis that name this bug's cause (never a check's label)
    replacements: tuple  # ((old, new), ...)
    also: tuple = ()     # other rows it honestly costs: ((test, points lost), ...)


BUGS = (
    Bug("glorot_product_of_dims", "init", "Glorot bound with d_in * d_out",
        "the dimensions were multiplied",
        (("np.sqrt(6.0 / (d_in + d_out))", "np.sqrt(6.0 / (d_in * d_out))"),)),
    Bug("glorot_he_bound_for_wide_inputs", "init",
        "sqrt(2 / d_in) for input layers wider than 700: wrong only at the assignment's size",
        "but d = sqrt(6 / (d_in + d_out))",
        (("bound = np.sqrt(6.0 / (d_in + d_out))",
          "bound = np.sqrt(6.0 / (d_in + d_out)) if d_in < 700 else np.sqrt(2.0 / d_in)"),)),
    Bug("glorot_from_zero", "init", "U(0, d) instead of U(-d, d)", "U(0, d) instead of U(-d, d)",
        (("np.random.uniform(-bound, bound", "np.random.uniform(0, bound"),)),
    Bug("normal_scaled", "init", "0.01 * randn (the CS231n habit) instead of N(0, 1)",
        "standard deviation is",
        (("np.random.normal(0.0, 1.0, size=(d_in, d_out))",
          "np.random.normal(0.0, 0.01, size=(d_in, d_out))"),)),
    Bug("bias_flat", "init", "biases of shape (d,) instead of (1, d)",
        "has shape (20,), expected (1, 20)",
        (('self.weights[f"b{layer_n}"] = np.zeros((1, d_out))',
          'self.weights[f"b{layer_n}"] = np.zeros(d_out)'),)),
    Bug("seed_ignored", "init", "the seeding line deleted", "two calls with seed=7",
        (("            np.random.seed(self.seed)\n", "            pass\n"),)),
    Bug("init_units_share_weights", "init",
        "one column of exact quantiles (in random order) tiled across the units: every mean, "
        "variance and distribution-shape statistic is right, yet all units of a layer get the "
        "same incoming weights and can never become different",
        "has the same incoming weights",
        (("np.random.normal(0.0, 1.0, size=(d_in, d_out))",
          "np.tile(np.random.permutation([__import__('statistics').NormalDist().inv_cdf("
          "(i + 0.5) / d_in) for i in range(d_in)])[:, None], (1, d_out))"),
         ("np.random.uniform(-bound, bound, size=(d_in, d_out))",
          "np.tile(np.random.permutation(-bound + 2 * bound * (np.arange(d_in) + 0.5) / d_in)"
          "[:, None], (1, d_out))"))),
    # relu'(0) = 1 (x >= 0) used to be an entry here; it is a valid subgradient, as is any value
    # in [0, 1], and is now accepted (tests/submissions/ift6390_a20_style.py relies on it).
    Bug("relu_grad_returns_value", "activations", "relu(x) returned for its derivative",
        "it returns relu(x), not its derivative",
        (("return (x > 0).astype(x.dtype)", "return np.maximum(x, 0)"),)),
    Bug("sigmoid_grad_of_input", "activations", "sigmoid' applied to x as if it were s",
        "applied to x itself",
        (("            return s * (1.0 - s)\n", "            return x * (1.0 - x)\n"),)),
    Bug("tanh_grad_of_input", "activations", "tanh' applied to x", "applied to x itself",
        (("return 1.0 - t ** 2", "return 1.0 - x ** 2"),)),
    Bug("leaky_slope", "activations", "slope 0.1", "slope for x <= 0 must be 0.01",
        (("return np.where(x > 0, x, 0.01 * x)", "return np.where(x > 0, x, 0.1 * x)"),)),
    Bug("activation_unknown_is_relu", "activations", "an unknown name falls back to relu",
        "must raise ValueError",
        (('            raise ValueError(f"unknown activation {self.activation_str!r}")',
          '            return self.relu(x, grad=grad)'),)),
    Bug("softmax_unstable", "softmax", "no max subtraction: overflow at large logits",
        "subtract the row maximum",
        (("shifted = x - np.max(x, axis=-1, keepdims=True)", "shifted = x"),)),
    Bug("softmax_axis0", "softmax", "normalized over the batch axis", "along axis 0",
        (("shifted = x - np.max(x, axis=-1, keepdims=True)\n        e = np.exp(shifted)\n"
          "        return e / np.sum(e, axis=-1, keepdims=True)",
          "shifted = x - np.max(x, axis=0, keepdims=True)\n        e = np.exp(shifted)\n"
          "        return e / np.sum(e, axis=0, keepdims=True)"),)),
    Bug("softmax_uniform", "softmax", "a placeholder returning 1/C everywhere: rows sum to 1 and "
        "it is shift-invariant, but the logits are never used", "every entry is 1/C",
        (("shifted = x - np.max(x, axis=-1, keepdims=True)\n        e = np.exp(shifted)\n"
          "        return e / np.sum(e, axis=-1, keepdims=True)",
          "return np.full(np.shape(x), 1.0 / np.shape(x)[-1])"),)),
    Bug("forward_zeroes_input", "forward", "the caller's batch is zeroed in place after use (the "
        "cache keeps a copy): right cache, but train_loop's training data is wiped",
        "forward changed its argument x in place",
        (('cache = {"Z0": x}', 'cache = {"Z0": x.copy()}'),
         ('            cache[f"Z{layer_n}"] = z\n',
          '            cache[f"Z{layer_n}"] = z\n        x[...] = 0\n'))),
    Bug("forward_no_bias", "forward", "biases never added", "biases b{l} were not added",
        (('a = z @ self.weights[f"W{layer_n}"] + self.weights[f"b{layer_n}"]',
          'a = z @ self.weights[f"W{layer_n}"]'),)),
    Bug("forward_no_softmax", "forward", "the output layer uses the hidden activation",
        "instead of softmax",
        (("z = self.softmax(a) if layer_n == n_layers else self.activation(a)",
          "z = self.activation(a)"),)),
    Bug("loss_sum", "loss", "summed, not averaged", "summed over the batch instead of averaging",
        (("return float(-np.sum(labels * np.log(clipped)) / prediction.shape[0])",
          "return float(-np.sum(labels * np.log(clipped)))"),)),
    Bug("loss_no_clip", "loss", "log(0) for probabilities of 0", "log(0)",
        (("clipped = np.clip(prediction, self.epsilon, 1 - self.epsilon)", "clipped = prediction"),)),
    Bug("loss_clips_in_place", "loss", "the caller's predictions are overwritten",
        "modified its argument",
        (("clipped = np.clip(prediction, self.epsilon, 1 - self.epsilon)",
          "clipped = np.clip(prediction, self.epsilon, 1 - self.epsilon, out=prediction)"),)),
    Bug("backward_sum", "backward", "gradient of the summed loss",
        "(the batch size) times too large",
        (("d_a = (output - labels) / batch_size", "d_a = output - labels"),)),
    Bug("backward_derivative_at_z", "backward", "derivative evaluated at the activation",
        "evaluated at Z (the activation)",
        (('self.activation(cache[f"A{layer_n - 1}"], grad=True)',
          'self.activation(cache[f"Z{layer_n - 1}"], grad=True)'),)),
    Bug("backward_db_mean", "backward", "db averaged a second time",
        "divided by the batch size twice",
        (('grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
          'grads[f"db{layer_n}"] = np.mean(d_a, axis=0, keepdims=True)'),)),
    Bug("backward_dw_transposed", "backward", "dW transposed", "transposed",
        (('grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a',
          'grads[f"dW{layer_n}"] = d_a.T @ cache[f"Z{layer_n - 1}"]'),)),
    Bug("update_ascent", "update", "the gradient is added", "not subtracted",
        (('self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]',
          'self.weights[f"W{layer}"] += self.lr * grads[f"dW{layer}"]'),)),
    Bug("update_forgets_bias", "update", "biases never updated", "not updated",
        (('            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]\n', ''),)),
    Bug("train_loop_no_update", "train_loop", "no update step", "update was called 0 times",
        (("                self.update(grads)\n", ""),)),
    Bug("train_loop_first_batch_only", "train_loop", "the first minibatch at every step",
        "every step used the first minibatch",
        (("cache = self.forward(minibatchX)\n                grads = self.backward(cache, minibatchY)",
          "cache = self.forward(X_train[:self.batch_size])\n"
          "                grads = self.backward(cache, y_onehot[:self.batch_size])"),)),
    Bug("evaluate_on_valid", "train_loop", "evaluate() on the validation split",
        "valid split, not the test split",
        (("self.compute_loss_and_accuracy(X_test, y_test)",
          "self.compute_loss_and_accuracy(*self.valid)"),)),
    Bug("fd_one_sided", "finite_difference", "forward difference", "one-sided difference",
        (("            w[index] = original - epsilon\n", "            w[index] = original\n"),
         ("estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)",
          "estimates[i] = (loss_plus - loss_minus) / epsilon"))),
    Bug("fd_not_restored", "finite_difference", "each entry left at theta - epsilon",
        "left at theta - epsilon",
        (("            w[index] = original\n            estimates", "            estimates"),)),
    Bug("fd_single_epsilon", "finite_difference", "divided by epsilon, not 2 epsilon",
        "divided by epsilon instead of 2 * epsilon",
        (("estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)",
          "estimates[i] = (loss_plus - loss_minus) / epsilon"),)),
    Bug("adam_no_bias_correction", "optimizers", "Adam without bias correction",
        "bias corrections",
        (("m_hat = m / (1 - beta1 ** t)\n            v_hat = v / (1 - beta2 ** t)",
          "m_hat = m\n            v_hat = v"),)),
    Bug("adam_eps_inside_sqrt", "optimizers", "Adam with eps inside the square root",
        "inside the square root",
        (("self.lr * m_hat / (np.sqrt(v_hat) + self.eps)",
          "self.lr * m_hat / np.sqrt(v_hat + self.eps)"),)),
    Bug("rmsprop_eps_inside_sqrt", "optimizers", "RMSProp with eps inside the square root",
        "inside the square root",
        (("params[name] = param - self.lr * g / (np.sqrt(mean_square) + self.eps)",
          "params[name] = param - self.lr * g / np.sqrt(mean_square + self.eps)"),)),
    Bug("adagrad_forgets_history", "optimizers", "AdaGrad without accumulation",
        "not accumulated",
        (("accumulated = self.state.get(name, 0.0) + g * g", "accumulated = g * g"),)),
    Bug("momentum_dampened", "optimizers", "momentum as an average of gradients", "an average",
        (("velocity = g.copy() if velocity is None else self.momentum * velocity + g\n"
          "            self.state[name] = velocity\n"
          "            params[name] = param - self.lr * velocity",
          "velocity = (1 - self.momentum) * g if velocity is None else "
          "self.momentum * velocity + (1 - self.momentum) * g\n"
          "            self.state[name] = velocity\n"
          "            params[name] = param - self.lr * velocity"),)),
    Bug("nesterov_without_lookahead", "optimizers", "Nesterov that is plain momentum",
        "look-ahead is missing",
        (("params[name] = param - self.lr * (g + self.momentum * velocity)",
          "params[name] = param - self.lr * velocity"),)),
    Bug("adadelta_ignores_lr", "optimizers", "AdaDelta without the learning rate",
        "learning rate was ignored",
        (("params[name] = param - self.lr * delta", "params[name] = param - delta"),)),
    Bug("rmsprop_nesterov_lookahead", "optimizers", "RMSPropNesterov stepping by v' only",
        "moved by v' only",
        (("params[name] = param + (1 + self.momentum) * new_velocity - self.momentum * velocity",
          "params[name] = param + new_velocity"),)),
    Bug("adam_state_shared", "optimizers", "one Adam state for all parameters",
        "one state shared by all parameters",
        (("t, m, v = self.state.get(name, (0, 0.0, 0.0))",
          "t, m, v = self.state.get('all', (0, 0.0, 0.0))"),
         ("self.state[name] = (t, m, v)", "self.state['all'] = (t, m, v)"))),
    Bug("bn_unbiased_normalization", "batchnorm", "normalized with the unbiased variance",
        "unbiased variance",
        (("var = x.var(axis=0, keepdims=True)\n            unbiased",
          "var = x.var(axis=0, keepdims=True, ddof=1)\n            unbiased"),)),
    Bug("bn_running_not_updated", "batchnorm", "running statistics never updated",
        "never updated in training",
        (("            self.running_mean = (1 - self.momentum) * self.running_mean"
          " + self.momentum * mean\n"
          "            self.running_var = (1 - self.momentum) * self.running_var"
          " + self.momentum * unbiased\n", ""),)),
    Bug("bn_eval_uses_batch_stats", "batchnorm", "evaluation normalizes with batch statistics",
        "batch statistics instead of the running",
        (("            mean, var = self.running_mean, self.running_var\n        inv_std",
          "            mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)\n"
          "        inv_std"),)),
    Bug("bn_momentum_flipped", "batchnorm", "running = m * running + (1 - m) * batch",
        "weighs the new batch by momentum",
        (("(1 - self.momentum) * self.running_mean + self.momentum * mean",
          "self.momentum * self.running_mean + (1 - self.momentum) * mean"),
         ("(1 - self.momentum) * self.running_var + self.momentum * unbiased",
          "self.momentum * self.running_var + (1 - self.momentum) * unbiased"))),
    Bug("bn_dgamma_not_summed", "batchnorm", "dgamma and dbeta kept per example",
        "not summed over the batch axis",
        (("dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)\n"
          "        dbeta = np.sum(dout, axis=0, keepdims=True)",
          "dgamma = dout * x_hat\n        dbeta = dout"),)),
    Bug("bn_backward_constant_stats", "batchnorm", "training backward ignores the batch statistics",
        "as constants",
        (("        if not train:\n            return dx_hat * inv_std, dgamma, dbeta",
          "        if True:\n            return dx_hat * inv_std, dgamma, dbeta"),)),
    Bug("dropout_not_rescaled", "dropout", "kept entries not divided by 1 - p",
        "not divided by 1 - p",
        (("mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)",
          "mask = (self.rng.random(x.shape) >= self.p).astype(float)"),)),
    Bug("dropout_p_is_keep_probability", "dropout", "p used as the keep probability",
        "keep probability",
        (("mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)",
          "mask = (self.rng.random(x.shape) < self.p) / (1.0 - self.p)"),)),
    Bug("dropout_mask_regenerated", "dropout", "backward draws a new mask", "a new mask",
        (("        return dout * mask\n",
          "        return dout * (self.rng.random(dout.shape) >= self.p) / (1.0 - self.p)\n"),)),
    Bug("dropout_in_evaluation", "dropout", "dropout applied in evaluation too",
        "dropped with train=False",
        (("if not train or self.p == 0:", "if self.p == 0:"),)),
    Bug("dropout_never_drops", "dropout", "the p == 0 shortcut written p >= 0: never drops",
        "never drops",
        (("if not train or self.p == 0:", "if not train or self.p >= 0:"),)),
    Bug("dropout_mask_not_applied", "dropout", "the mask is drawn and returned, x is not masked",
        "never drops",
        (("        return x * mask, mask\n", "        return x, mask\n"),)),
    Bug("dropout_mask_reused", "dropout", "the mask is drawn once and reused by every call",
        "the same entries were dropped in the first and the second call",
        (("        mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)\n",
          "        if getattr(self, 'mask', None) is None or self.mask.shape != x.shape:\n"
          "            self.mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)\n"
          "        mask = self.mask\n"),)),
    Bug("dropout_one_mask_per_batch", "dropout", "one mask row broadcast over the examples",
        "the same entries were dropped in examples (rows)",
        (("mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)",
          "mask = (self.rng.random(x.shape[1:]) >= self.p) / (1.0 - self.p)"),)),
    Bug("bn2d_unbiased_normalization", "batchnorm2d", "normalized with the unbiased variance",
        "unbiased variance",
        (("var = x.var(dim=(0, 2, 3), unbiased=False)", "var = x.var(dim=(0, 2, 3), unbiased=True)"),)),
    Bug("bn2d_buffers_as_attributes", "batchnorm2d", "running statistics not registered as buffers",
        "are not registered as buffers",
        (('self.register_buffer("running_mean", torch.zeros(num_features))',
          "self.running_mean = torch.zeros(num_features)"),
         ('self.register_buffer("running_var", torch.ones(num_features))',
          "self.running_var = torch.ones(num_features)"))),
    Bug("bn2d_eval_batch_stats", "batchnorm2d", "evaluation normalizes with batch statistics",
        "evaluation used the batch statistics instead of the running ones",
        (("            mean, var = self.running_mean, self.running_var\n        shape",
          "            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)\n"
          "        shape"),)),
    Bug("bn2d_running_not_updated", "batchnorm2d", "running statistics never updated",
        "never updated in training",
        (("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n"
          "                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)\n",
          "                pass\n"),)),
    Bug("bn2d_inverted_momentum", "batchnorm2d", "momentum weights the old running value",
        "Keras' convention",
        (("                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n"
          "                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)\n",
          "                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)\n"
          "                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * unbiased)\n"),)),
    Bug("bn2d_weight_not_parameter", "batchnorm2d", "weight and bias are plain tensors",
        "are not registered as parameters",
        (("self.weight = torch.nn.Parameter(torch.ones(num_features))",
          "self.weight = torch.ones(num_features)"),
         ("self.bias = torch.nn.Parameter(torch.zeros(num_features))",
          "self.bias = torch.zeros(num_features)"))),
    Bug("update_ignores_optimizer", "optimizers", "NN.update never calls the optimizer",
        "ignored the optimizer",
        (("            self.optimizer.step(self.weights, grads)\n            return\n",
          "            pass\n"),)),
    Bug("bn2d_functional", "batchnorm2d", "BatchNorm2d delegates to torch's functional batch norm",
        "torch.nn.functional.batch_norm",
        (("        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)\n"
          "        return self.weight.view(shape) * x_hat + self.bias.view(shape)\n",
          "        return torch.nn.functional.batch_norm(x, self.running_mean, self.running_var,\n"
          "            self.weight, self.bias, self.training, self.momentum, self.eps)\n"),),
        # a BatchNorm2d that is torch's batch norm puts library normalization in CatsDogsCNN
        also=(("test_cats_dogs_rules", 1.5),)),
    Bug("bn2d_not_started", "batchnorm2d", "BatchNorm2d left as the template's stub",
        "not implemented",
        (("        self.weight = torch.nn.Parameter(torch.ones(num_features))\n",
          "        raise NotImplementedError(\"batchnorm2d: BatchNorm2d.__init__ is not implemented yet\")\n"
          "        self.weight = torch.nn.Parameter(torch.ones(num_features))\n"),)),
    Bug("mnist_cnn_over_budget", "mnist_cnn", "a 512-unit hidden layer: 1.6M parameters",
        "too many", (("nn.Linear(64 * 7 * 7, 160)", "nn.Linear(64 * 7 * 7, 512)"),
                     ("nn.Linear(160, 10)", "nn.Linear(512, 10)"))),
    Bug("mnist_cnn_no_convolution", "mnist_cnn", "an MLP handed in as the CNN",
        "no convolution layer",
        (("            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
          "            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))",
          "            nn.Flatten(), nn.Linear(784, 3136), nn.ReLU(),\n"
          "            nn.Unflatten(1, (64, 7, 7)))"),)),
    Bug("mnist_cnn_frozen", "mnist_cnn", "every layer frozen (requires_grad=False) but the last",
        "are frozen (requires_grad=False)",
        (("        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 160), nn.ReLU(),\n"
          "                                        nn.Linear(160, 10))\n",
          "        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 160), nn.ReLU(),\n"
          "                                        nn.Linear(160, 10))\n"
          "        for p in list(self.parameters())[:-2]:\n"
          "            p.requires_grad_(False)\n"
          "        self.spare = nn.Parameter(torch.zeros(600_000))\n"),)),
    Bug("mnist_cnn_softmax_output", "mnist_cnn", "forward returns softmax probabilities",
        "returns probabilities",
        (("        return self.classifier(self.features(x))\n        # END SOLUTION\n\n\nclass CatsDogsCNN",
          "        return torch.softmax(self.classifier(self.features(x)), dim=1)\n"
          "        # END SOLUTION\n\n\nclass CatsDogsCNN"),)),
    Bug("cats_dogs_single_logit", "cats_dogs_cnn", "one output logit (the binary habit) instead of two",
        "the last layer has 1 outputs", (("nn.Linear(128, 2))", "nn.Linear(128, 1))"),)),
    Bug("cats_dogs_library_batchnorm", "cats_dogs_cnn", "torch.nn.BatchNorm2d instead of the own one",
        "torch.nn.BatchNorm2d", (("BatchNorm2d(c_out), nn.ReLU()", "nn.BatchNorm2d(c_out), nn.ReLU()"),)),
    Bug("cats_dogs_functional_dropout", "cats_dogs_cnn", "F.dropout in forward",
        "torch.nn.functional.dropout",
        (("        return self.classifier(self.features(x))\n        # END SOLUTION\n\n\ndef make_cats",
          "        features = torch.nn.functional.dropout(self.features(x), 0.2, self.training)\n"
          "        return self.classifier(features)\n        # END SOLUTION\n\n\ndef make_cats"),)),
    Bug("cats_dogs_adam", "cats_dogs_cnn", "torch.optim.Adam from make_cats_dogs_optimizer",
        "torch.optim.Adam",
        (("return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)",
          "return torch.optim.Adam(model.parameters(), lr=1e-3)"),)),
    Bug("cats_dogs_tiny_lr", "cats_dogs_cnn", "a learning rate far too small to learn",
        "learning rate 1e-06 is likely far too small",
        (("return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)",
          "return torch.optim.SGD(model.parameters(), lr=1e-6)"),)),
    Bug("kaggle_header", "kaggle_submission", "header id,labels", "exactly 'id,label'",
        (('file.write("id,label\\n")', 'file.write("id,labels\\n")'),)),
    Bug("kaggle_unsorted", "kaggle_submission", "rows in the loader's order",
        "in the loader's order", (("    rows.sort()\n", ""),)),
    Bug("kaggle_sorted_as_strings", "kaggle_submission", "ids sorted as strings",
        "sorted as strings", (("    rows.sort()\n", "    rows.sort(key=lambda row: str(row[0]))\n"),)),
    Bug("kaggle_no_eval", "kaggle_submission", "predictions in training mode",
        "model.eval()", (("    model.eval()\n    rows = []", "    rows = []"),)),
    Bug("kaggle_cat_probability", "kaggle_submission", "P(cat) written as the label", "P(cat)",
        (("dim=1)[:, 1]", "dim=1)[:, 0]"),)),
    # -- issue 11, section 3: bugs seen again and again in real student files --------------------
    Bug("backward_self_batch_size", "backward",
        "divided by self.batch_size, not by the size of the batch at hand (the last minibatch of "
        "an epoch may be smaller)", "divided by self.batch_size (16) instead of the number of "
        "examples in this batch (7)",
        (("d_a = (output - labels) / batch_size", "d_a = (output - labels) / self.batch_size"),)),
    Bug("loss_self_batch_size", "loss", "the loss divided by self.batch_size",
        "divided by self.batch_size (16) instead of the number of examples given (10)",
        (("return float(-np.sum(labels * np.log(clipped)) / prediction.shape[0])",
          "return float(-np.sum(labels * np.log(clipped)) / self.batch_size)"),)),
    Bug("softmax_batch_max", "softmax", "the maximum of the whole batch subtracted, not each row's",
        "maximum of the whole batch",
        (("shifted = x - np.max(x, axis=-1, keepdims=True)", "shifted = x - np.max(x)"),)),
    Bug("loss_mean_over_entries", "loss", "np.mean over the N x C entries", "averaged over every entry",
        (("return float(-np.sum(labels * np.log(clipped)) / prediction.shape[0])",
          "return float(-np.mean(labels * np.log(clipped)))"),)),
    Bug("backward_dw_from_preactivation", "backward", "dW{l} = A{l-1}.T @ dA{l}",
        "computed from A{l-1} (the pre-activation)",
        (('grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a',
          'grads[f"dW{layer_n}"] = cache[f"A{layer_n - 1}" if layer_n > 1 else "Z0"].T @ d_a'),)),
    Bug("backward_no_activation_derivative", "backward", "the chain rule skips act'",
        "derivative was not applied",
        (('d_a = d_z * self.activation(cache[f"A{layer_n - 1}"], grad=True)', "d_a = d_z"),)),
    Bug("backward_activation_value", "backward", "act(A) where act'(A) belongs",
        "instead of its derivative",
        (('d_a = d_z * self.activation(cache[f"A{layer_n - 1}"], grad=True)',
          'd_a = d_z * self.activation(cache[f"A{layer_n - 1}"])'),)),
    Bug("backward_db_not_summed", "backward", "db kept per example", "not summed over the batch axis",
        (('grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
          'grads[f"db{layer_n}"] = d_a'),)),
    Bug("backward_db_wrong_axis", "backward", "db summed over the units", "summed over axis 1",
        (('grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
          'grads[f"db{layer_n}"] = np.sum(d_a, axis=1, keepdims=True)'),)),
    # -- issue 11, section 4: code that transposes W when the shapes allow it is wrong only on a
    # square layer; these stay unseen unless a graded case has one.
    Bug("forward_transpose_when_square", "forward", "z @ W.T whenever the shapes allow it",
        "square weight matrix W2 was transposed",
        (('a = z @ self.weights[f"W{layer_n}"] + self.weights[f"b{layer_n}"]',
          'w = self.weights[f"W{layer_n}"]\n'
          '            a = z @ (w.T if w.shape[1] == z.shape[1] else w) + self.weights[f"b{layer_n}"]'),)),
    Bug("backward_untransposed_when_square", "backward", "dA @ W whenever the shapes allow it",
        "square W2 was not transposed",
        (('d_z = d_a @ self.weights[f"W{layer_n}"].T',
          'w = self.weights[f"W{layer_n}"]\n'
          '                d_z = d_a @ (w if w.shape[0] == d_a.shape[1] else w.T)'),)),
    Bug("update_transpose_when_square", "update", "dW.T whenever the shapes allow it",
        "square layer's dW was transposed",
        (('self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]',
          'self.weights[f"W{layer}"] -= self.lr * (grads[f"dW{layer}"].T if '
          'grads[f"dW{layer}"].shape[0] == grads[f"dW{layer}"].shape[1] else grads[f"dW{layer}"])'),)),
)


@dataclass(frozen=True)
class Convention:
    """The worked solution written another correct way: it must keep full marks in ``parts``."""
    name: str
    parts: tuple
    why: str
    replacements: tuple  # ((old, new), ...)


CONVENTIONS = (
    # Most real files keep dA{L} = output - labels (the gradient of the summed loss, one row per
    # example) and divide only dW and db by N (issue 11, section 5).
    Convention("backward_per_example_intermediates", ("backward",),
               "dA and dZ per example, only dW and db divided by N",
               (("d_a = (output - labels) / batch_size", "d_a = output - labels"),
                ('grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a',
                 'grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a / batch_size'),
                ('grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
                 'grads[f"db{layer_n}"] = np.mean(d_a, axis=0, keepdims=True)'))),
    # The same with N read from the labels and db of shape (d,): accepted (the interface's
    # (1, d) is preferred; update broadcasts either).
    Convention("backward_per_example_flat_db", ("backward", "update"),
               "per-example dA/dZ, np.dot, N from labels, db of shape (d,)",
               (("d_a = (output - labels) / batch_size", "d_a = output - labels"),
                ('grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a',
                 'grads[f"dW{layer_n}"] = np.dot(cache[f"Z{layer_n - 1}"].T, d_a) / labels.shape[0]'),
                ('grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)',
                 'grads[f"db{layer_n}"] = np.sum(d_a, axis=0) / labels.shape[0]'))),
)
