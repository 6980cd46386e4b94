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
    says: str            # words the diagnosis of the failing part must contain
    replacements: tuple  # ((old, new), ...)


BUGS = (
    Bug("glorot_product_of_dims", "init", "Glorot bound with d_in * d_out",
        "d = sqrt(6 / (d_in + d_out))",
        (("np.sqrt(6.0 / (d_in + d_out))", "np.sqrt(6.0 / (d_in * d_out))"),)),
    Bug("glorot_from_zero", "init", "U(0, d) instead of U(-d, d)", "U(0, d) instead of U(-d, d)",
        (("np.random.uniform(-bound, bound", "np.random.uniform(0, bound"),)),
    Bug("normal_scaled", "init", "0.01 * randn (the CS231n habit) instead of N(0, 1)",
        "standard deviation is",
        (("np.random.normal(0.0, 1.0, size=(d_in, d_out))",
          "np.random.normal(0.0, 0.01, size=(d_in, d_out))"),)),
    Bug("bias_flat", "init", "biases of shape (d,) instead of (1, d)", "expected (1, 20)",
        (('self.weights[f"b{layer_n}"] = np.zeros((1, d_out))',
          'self.weights[f"b{layer_n}"] = np.zeros(d_out)'),)),
    Bug("seed_ignored", "init", "the seeding line deleted", "two calls with seed=7",
        (("            np.random.seed(self.seed)\n", "            pass\n"),)),
    Bug("relu_grad_at_zero", "activations", "relu'(0) = 1", "relu'(0) must be 0",
        (("return (x > 0).astype(float)", "return (x >= 0).astype(float)"),)),
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
        (('self.weights[f"W{layer}"] - self.lr * grads[f"dW{layer}"]',
          'self.weights[f"W{layer}"] + self.lr * grads[f"dW{layer}"]'),)),
    Bug("update_forgets_bias", "update", "biases never updated", "not updated",
        (('            self.weights[f"b{layer}"] = self.weights[f"b{layer}"] - self.lr * '
          'grads[f"db{layer}"]\n', ''),)),
    Bug("train_loop_no_update", "train_loop", "no update step", "update was called 0 times",
        (("                self.update(grads)\n", ""),)),
    Bug("train_loop_first_batch_only", "train_loop", "the first minibatch at every step",
        "data order",
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
    Bug("fd_single_epsilon", "finite_difference", "divided by epsilon, not 2 epsilon", "times 2",
        (("estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)",
          "estimates[i] = (loss_plus - loss_minus) / epsilon"),)),
    Bug("adam_no_bias_correction", "optimizers", "Adam without bias correction",
        "bias corrections",
        (("m_hat = m / (1 - beta1 ** t)\n            v_hat = v / (1 - beta2 ** t)",
          "m_hat = m\n            v_hat = v"),)),
    Bug("adam_eps_inside_sqrt", "optimizers", "Adam with eps inside the square root", "Adam",
        (("self.lr * m_hat / (np.sqrt(v_hat) + self.eps)",
          "self.lr * m_hat / np.sqrt(v_hat + self.eps)"),)),
    Bug("rmsprop_eps_inside_sqrt", "optimizers", "RMSProp with eps inside the square root",
        "inside the square root",
        (("params[name] = param - self.lr * g / (np.sqrt(mean_square) + self.eps)",
          "params[name] = param - self.lr * g / np.sqrt(mean_square + self.eps)"),)),
    Bug("adagrad_forgets_history", "optimizers", "AdaGrad without accumulation", "AdaGrad",
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
        "RMSPropNesterov",
        (("params[name] = param + (1 + self.momentum) * new_velocity - self.momentum * velocity",
          "params[name] = param + new_velocity"),)),
    Bug("adam_state_shared", "optimizers", "one Adam state for all parameters", "Adam",
        (("t, m, v = self.state.get(name, (0, 0.0, 0.0))",
          "t, m, v = self.state.get('all', (0, 0.0, 0.0))"),
         ("self.state[name] = (t, m, v)", "self.state['all'] = (t, m, v)"))),
    Bug("update_ignores_optimizer", "optimizers", "NN.update never calls the optimizer",
        "ignored the optimizer",
        (("            self.optimizer.step(self.weights, grads)\n            return\n",
          "            pass\n"),)),
)
