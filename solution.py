"""Assignment: a multilayer perceptron in numpy, then convolutional networks in PyTorch.

Replace each line that raises ``NotImplementedError`` with your code, and leave the rest of the
file as it is: the grader calls these names and signatures. Run ``pytest grader`` for your score.

Conventions (used by every method below and by the grader)
----------------------------------------------------------
* Arrays are row-major batches: inputs ``X`` have shape ``(N, D)`` (N examples, D features) and
  labels are one-hot, shape ``(N, C)``.
* Layers are numbered ``1 .. L`` with ``L = n_hidden + 1``; ``d_0 = D`` and ``d_L = C``.
  ``W{l}`` has shape ``(d_{l-1}, d_l)`` and ``b{l}`` has shape ``(1, d_l)``.
* **``A{l}`` is the pre-activation and ``Z{l}`` the activation** (this is the IFT6135 convention,
  the reverse of CS231n's)::

      Z0 = X
      A{l} = Z{l-1} @ W{l} + b{l}           for l = 1 .. L
      Z{l} = activation(A{l})               for l = 1 .. L-1
      Z{L} = softmax(A{L})                  (class probabilities, rows sum to 1)

* ``forward`` returns the cache ``{"Z0", "A1", "Z1", ..., "AL", "ZL"}``.
* ``backward`` returns the gradients of the **mean** cross-entropy over the batch, with keys
  ``dA{L}, dW{L}, db{L}, dZ{L-1}, dA{L-1}, dW{L-1}, db{L-1}, ..., dW1, db1``; each gradient has
  the shape of the quantity it differentiates (``dW{l}`` like ``W{l}``, ``db{l}`` like ``b{l}``).
* Never modify an array you were given (clip or normalize a copy).
"""
from __future__ import annotations

import numpy as np
import torch


def _small_random_data(seed: int = 0, n_features: int = 20, n_classes: int = 4):
    """Three small ``(X, Y_onehot)`` splits for trying the class without a data set.

    Returns ``(train, valid, test)``; ``X`` has shape ``(n, n_features)`` and ``Y`` ``(n, n_classes)``
    with ``n`` = 256, 64 and 64.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 2.0, size=(n_classes, n_features))

    def split(n):
        y = rng.integers(0, n_classes, size=n)
        x = centers[y] + rng.normal(0.0, 1.0, size=(n, n_features))
        return x, np.eye(n_classes)[y]

    return split(256), split(64), split(64)


class NN:
    """A fully connected network trained by minibatch SGD on the mean cross-entropy."""

    def __init__(self, hidden_dims=(512, 256), epsilon=1e-6, lr=7e-4, batch_size=64, seed=None,
                 activation="relu", init_method="glorot", data=None, optimizer=None):
        """
        Inputs:
        - hidden_dims: sizes of the hidden layers ``(d_1, ..., d_{L-1})``.
        - epsilon: predictions are clipped into ``[epsilon, 1 - epsilon]`` by ``loss``.
        - lr: SGD learning rate.  batch_size: minibatch size.  seed: seeds ``np.random`` in
          ``initialize_weights`` when not None.
        - activation: "relu" | "sigmoid" | "tanh" | "leaky_relu".
        - init_method: "zero" | "normal" | "glorot".
        - data: ``(train, valid, test)``, each ``(X (N, D), Y_onehot (N, C))``; None gives small
          random data for trying the class.
        - optimizer: an optimizer object (e.g. ``Adam(lr=1e-3)``, Part 2); when set, ``update``
          delegates to ``optimizer.step(self.weights, grads)`` instead of plain SGD.
        """
        self.hidden_dims = hidden_dims
        self.n_hidden = len(hidden_dims)
        self.lr = lr
        self.batch_size = batch_size
        self.init_method = init_method
        self.seed = seed
        self.activation_str = activation
        self.epsilon = epsilon
        self.optimizer = optimizer

        self.train_logs = {'train_accuracy': [], 'validation_accuracy': [],
                           'train_loss': [], 'validation_loss': []}

        if data is None:
            data = _small_random_data()
        self.train, self.valid, self.test = data

    def initialize_weights(self, dims):
        """Create ``self.weights = {"W1", "b1", ..., "WL", "bL"}``.

        Inputs:
        - dims: ``[n_features, n_classes]``; the layer sizes are
          ``[n_features, *hidden_dims, n_classes]``.
        ``W{l}`` has shape ``(d_{l-1}, d_l)``, drawn by ``init_method``: "zero" (all zeros),
        "normal" (N(0, 1)) or "glorot" (U(-d, d) with ``d = sqrt(6 / (d_{l-1} + d_l))``).
        ``b{l}`` is zeros of shape ``(1, d_l)``. Seeds ``np.random`` with ``self.seed`` first
        when it is not None. Unknown ``init_method`` raises ValueError.
        """
        if self.seed is not None:
            np.random.seed(self.seed)

        self.weights = {}
        all_dims = [dims[0]] + list(self.hidden_dims) + [dims[1]]
        for layer_n in range(1, self.n_hidden + 2):
            # BEGIN SOLUTION init
            d_in, d_out = all_dims[layer_n - 1], all_dims[layer_n]
            if self.init_method == "zero":
                w = np.zeros((d_in, d_out))
            elif self.init_method == "normal":
                w = np.random.normal(0.0, 1.0, size=(d_in, d_out))
            elif self.init_method == "glorot":
                bound = np.sqrt(6.0 / (d_in + d_out))
                w = np.random.uniform(-bound, bound, size=(d_in, d_out))
            else:
                raise ValueError(f"unknown init_method {self.init_method!r}")
            self.weights[f"W{layer_n}"] = w
            self.weights[f"b{layer_n}"] = np.zeros((1, d_out))
            # END SOLUTION

    def relu(self, x, grad=False):
        """ReLU of ``x`` (any shape), or its derivative at ``x`` when ``grad`` (0 at ``x = 0``).

        Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION activations
        if grad:
            # Cast the boolean mask to x's own dtype: astype(float) would make it float64, and
            # with it every gradient below this layer, even when the data is float32.
            return (x > 0).astype(x.dtype)
        return np.maximum(x, 0)
        # END SOLUTION

    def sigmoid(self, x, grad=False):
        """Logistic sigmoid of ``x`` (any shape), or its derivative at ``x`` when ``grad``.

        Must not overflow for large ``|x|``. Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION activations
        x = np.asarray(x)  # no dtype here: float32 stays float32 (integers become float64 in exp)
        # exp(-|x|) never overflows, and sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
        e = np.exp(-np.abs(x))
        s = np.where(x >= 0, 1, e) / (1 + e)
        if grad:
            return s * (1.0 - s)
        return s
        # END SOLUTION

    def tanh(self, x, grad=False):
        """Hyperbolic tangent of ``x`` (any shape), or its derivative at ``x`` when ``grad``.

        Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION activations
        t = np.tanh(x)
        if grad:
            return 1.0 - t ** 2
        return t
        # END SOLUTION

    def leaky_relu(self, x, grad=False):
        """Leaky ReLU with slope 0.01 for ``x <= 0``, or its derivative when ``grad``.

        Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION activations
        if grad:
            # np.where(x > 0, 1.0, 0.01) would be float64 whatever x is (two Python floats have no
            # dtype to keep); an array of ones like x gives the result x's dtype.
            return np.where(x > 0, np.ones_like(x), 0.01)
        return np.where(x > 0, x, 0.01 * x)
        # END SOLUTION

    def activation(self, x, grad=False):
        """Dispatch to the activation named by ``self.activation_str`` (ValueError if unknown).

        Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION activations
        functions = {"relu": self.relu, "sigmoid": self.sigmoid, "tanh": self.tanh,
                     "leaky_relu": self.leaky_relu}
        if self.activation_str not in functions:
            raise ValueError(f"unknown activation {self.activation_str!r}")
        return functions[self.activation_str](x, grad=grad)
        # END SOLUTION

    def softmax(self, x):
        """Softmax along the last axis of ``x``, shape ``(C,)`` or ``(N, C)``.

        Remember that ``softmax(x - c) = softmax(x)`` for a constant ``c``: subtract the maximum
        so that logits of size 1000 do not overflow. Returns an array of the shape of ``x``.
        """
        # BEGIN SOLUTION softmax
        shifted = x - np.max(x, axis=-1, keepdims=True)
        e = np.exp(shifted)
        return e / np.sum(e, axis=-1, keepdims=True)
        # END SOLUTION

    def forward(self, x):
        """Forward pass of a batch ``x`` of shape ``(N, D)``.

        Returns the cache ``{"Z0": x, "A1": (N, d_1), "Z1": (N, d_1), ..., "AL": (N, C),
        "ZL": (N, C)}`` where ``ZL`` holds the softmax probabilities.
        """
        cache = {"Z0": x}
        # BEGIN SOLUTION forward
        n_layers = self.n_hidden + 1
        z = x
        for layer_n in range(1, n_layers + 1):
            a = z @ self.weights[f"W{layer_n}"] + self.weights[f"b{layer_n}"]
            z = self.softmax(a) if layer_n == n_layers else self.activation(a)
            cache[f"A{layer_n}"] = a
            cache[f"Z{layer_n}"] = z
        # END SOLUTION
        return cache

    def backward(self, cache, labels):
        """Gradients of the mean cross-entropy over the batch.

        Inputs:
        - cache: the dict returned by ``forward``.
        - labels: one-hot, shape ``(N, C)``.
        Returns ``grads`` with keys ``dA{L}, dW{L}, db{L}, dZ{L-1}, dA{L-1}, ..., dW1, db1``:
        ``dA{l}`` and ``dZ{l}`` have shape ``(N, d_l)``, ``dW{l}`` ``(d_{l-1}, d_l)`` and ``db{l}``
        ``(1, d_l)``.
        """
        output = cache[f"Z{self.n_hidden + 1}"]
        grads = {}
        # BEGIN SOLUTION backward
        n_layers = self.n_hidden + 1
        batch_size = output.shape[0]
        # Softmax followed by cross-entropy has the simple gradient (p - y); the mean divides by N.
        d_a = (output - labels) / batch_size
        for layer_n in range(n_layers, 0, -1):
            grads[f"dA{layer_n}"] = d_a
            grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a
            grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)
            if layer_n > 1:
                d_z = d_a @ self.weights[f"W{layer_n}"].T
                grads[f"dZ{layer_n - 1}"] = d_z
                d_a = d_z * self.activation(cache[f"A{layer_n - 1}"], grad=True)
        # END SOLUTION
        return grads

    def update(self, grads):
        """One SGD step ``W{l} -= lr * dW{l}``, ``b{l} -= lr * db{l}`` for every layer, or, when
        ``self.optimizer`` is set, one ``self.optimizer.step(self.weights, grads)``.

        Inputs:
        - grads: the dict returned by ``backward`` (extra keys such as ``dA1`` are ignored).
        """
        if getattr(self, "optimizer", None) is not None:
            # BEGIN SOLUTION update
            self.optimizer.step(self.weights, grads)
            return
            # END SOLUTION
        for layer in range(1, self.n_hidden + 2):
            # BEGIN SOLUTION update
            # In place: no new (d_in, d_out) array every step, and W keeps its own dtype.
            self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]
            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]
            # END SOLUTION

    def loss(self, prediction, labels):
        """Mean cross-entropy of ``prediction`` (N, C) against one-hot ``labels`` (N, C).

        The predictions are clipped into ``[epsilon, 1 - epsilon]`` first (on a copy: the
        caller's array is left unchanged). Returns a float.
        """
        # BEGIN SOLUTION loss
        clipped = np.clip(prediction, self.epsilon, 1 - self.epsilon)
        return float(-np.sum(labels * np.log(clipped)) / prediction.shape[0])
        # END SOLUTION

    def compute_loss_and_accuracy(self, X, y):
        """Loss, accuracy and predicted classes on ``X`` (N, D) with one-hot ``y`` (N, C).

        Returns ``(loss: float, accuracy: float, predictions: (N,) int)``.
        """
        one_y = y
        y = np.argmax(y, axis=1)  # Change y to integers
        cache = self.forward(X)
        predictions = np.argmax(cache[f"Z{self.n_hidden + 1}"], axis=1)
        accuracy = np.mean(y == predictions)
        loss = self.loss(cache[f"Z{self.n_hidden + 1}"], one_y)
        return loss, accuracy, predictions

    def train_loop(self, n_epochs):
        """Initialize the weights, then run ``n_epochs`` of minibatch SGD over ``self.train``.

        Minibatches are taken in data order (the last one may be smaller). After each epoch the
        loss and accuracy on ``self.train`` and ``self.valid`` are appended to ``self.train_logs``.
        Returns ``self.train_logs``.
        """
        X_train, y_train = self.train
        y_onehot = y_train
        dims = [X_train.shape[1], y_onehot.shape[1]]
        self.initialize_weights(dims)

        n_batches = int(np.ceil(X_train.shape[0] / self.batch_size))

        for epoch in range(n_epochs):
            for batch in range(n_batches):
                minibatchX = X_train[self.batch_size * batch:self.batch_size * (batch + 1), :]
                minibatchY = y_onehot[self.batch_size * batch:self.batch_size * (batch + 1), :]
                # BEGIN SOLUTION train_loop
                cache = self.forward(minibatchX)
                grads = self.backward(cache, minibatchY)
                self.update(grads)
                # END SOLUTION

            X_train, y_train = self.train
            train_loss, train_accuracy, _ = self.compute_loss_and_accuracy(X_train, y_train)
            X_valid, y_valid = self.valid
            valid_loss, valid_accuracy, _ = self.compute_loss_and_accuracy(X_valid, y_valid)

            self.train_logs['train_accuracy'].append(train_accuracy)
            self.train_logs['validation_accuracy'].append(valid_accuracy)
            self.train_logs['train_loss'].append(train_loss)
            self.train_logs['validation_loss'].append(valid_loss)

        return self.train_logs

    def evaluate(self):
        """Loss and accuracy on ``self.test``. Returns ``(test_loss, test_accuracy)``."""
        X_test, y_test = self.test
        # BEGIN SOLUTION evaluate
        test_loss, test_accuracy, _ = self.compute_loss_and_accuracy(X_test, y_test)
        return test_loss, test_accuracy
        # END SOLUTION

    def finite_difference(self, x, labels, epsilon, layer=2, p=10):
        """Central-difference estimates of d loss / d theta for the first ``p`` entries of
        ``W{layer}`` (row-major order).

        Inputs:
        - x: inputs ``(N, D)``; labels: one-hot ``(N, C)``.
        - epsilon: each entry ``theta_i`` alone is set to ``theta_i + epsilon`` and
          ``theta_i - epsilon``; the estimate is ``(loss(+) - loss(-)) / (2 * epsilon)``.
        Returns an array of shape ``(p,)``. The weights are left exactly as they were.
        """
        # BEGIN SOLUTION finite_difference
        w = self.weights[f"W{layer}"]
        estimates = np.zeros(p)
        for i in range(p):
            index = np.unravel_index(i, w.shape)  # the i-th entry in row-major order
            original = w[index]
            w[index] = original + epsilon
            loss_plus = self.loss(self.forward(x)[f"Z{self.n_hidden + 1}"], labels)
            w[index] = original - epsilon
            loss_minus = self.loss(self.forward(x)[f"Z{self.n_hidden + 1}"], labels)
            w[index] = original
            estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)
        return estimates
        # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Part 2: optimizers
#
# Every optimizer updates a dict of parameters ``params`` (name -> array, e.g. "W1", "b1") from a
# dict of gradients ``grads`` whose keys are "d" + name ("dW1", "db1"; other keys such as "dA1"
# are ignored). ``step`` changes the entries of ``params`` (in place, or by assigning new arrays
# to the same keys). State (velocities, accumulators) is kept per parameter name in
# ``self.state``. ``weight_decay`` adds ``weight_decay * param`` to the gradient first (L2
# regularization, as torch.optim does); ``Optimizer.gradients`` already does that for you.
# ---------------------------------------------------------------------------------------------


class Optimizer:
    """Base class: hyper-parameters, per-parameter state and weight decay."""

    def __init__(self, lr, weight_decay=0.0):
        self.lr = lr
        self.weight_decay = weight_decay
        self.state = {}

    def gradients(self, params, grads):
        """Yield ``(name, param, g)`` for every parameter that has a gradient ``"d" + name``;
        ``g`` (same shape as ``param``) includes the weight decay term."""
        for name, param in params.items():
            key = "d" + name
            if key not in grads:
                continue
            g = np.asarray(grads[key], dtype=float).reshape(np.shape(param))
            if self.weight_decay:
                g = g + self.weight_decay * param
            yield name, param, g

    def step(self, params, grads):
        """Update every entry of ``params`` from ``grads`` (see the module notes above)."""
        raise NotImplementedError


class SGD(Optimizer):
    """``theta <- theta - lr * g``."""

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            params[name] = param - self.lr * g
            # END SOLUTION


class Momentum(Optimizer):
    """Heavy-ball momentum, as ``torch.optim.SGD(momentum=m)``: ``v <- m v + g`` (``v = g`` at the
    first step), ``theta <- theta - lr * v``."""

    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = momentum

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            velocity = self.state.get(name)
            velocity = g.copy() if velocity is None else self.momentum * velocity + g
            self.state[name] = velocity
            params[name] = param - self.lr * velocity
            # END SOLUTION


class Nesterov(Optimizer):
    """Nesterov momentum, as ``torch.optim.SGD(momentum=m, nesterov=True)``: ``v <- m v + g``,
    ``theta <- theta - lr * (g + m v)``."""

    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = momentum

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            velocity = self.state.get(name)
            velocity = g.copy() if velocity is None else self.momentum * velocity + g
            self.state[name] = velocity
            params[name] = param - self.lr * (g + self.momentum * velocity)
            # END SOLUTION


class AdaGrad(Optimizer):
    """As ``torch.optim.Adagrad``: ``s <- s + g^2``, ``theta <- theta - lr g / (sqrt(s) + eps)``."""

    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = eps

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            accumulated = self.state.get(name, 0.0) + g * g
            self.state[name] = accumulated
            params[name] = param - self.lr * g / (np.sqrt(accumulated) + self.eps)
            # END SOLUTION


class RMSProp(Optimizer):
    """As ``torch.optim.RMSprop``: ``r <- alpha r + (1 - alpha) g^2``,
    ``theta <- theta - lr g / (sqrt(r) + eps)``."""

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = alpha
        self.eps = eps

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            mean_square = self.alpha * self.state.get(name, 0.0) + (1 - self.alpha) * g * g
            self.state[name] = mean_square
            params[name] = param - self.lr * g / (np.sqrt(mean_square) + self.eps)
            # END SOLUTION


class RMSPropNesterov(Optimizer):
    """RMSProp with Nesterov momentum (Goodfellow, Bengio and Courville, Algorithm 8.7), with the
    parameters holding the look-ahead point ``phi = theta + momentum * v``, so that ``step``
    receives the gradient at ``params``::

        r  <- alpha r + (1 - alpha) g^2
        v' <- momentum v - lr g / (sqrt(r) + eps)
        params <- params + (1 + momentum) v' - momentum v;   v <- v'
    """

    def __init__(self, lr=0.001, alpha=0.9, momentum=0.9, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = alpha
        self.momentum = momentum
        self.eps = eps

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            mean_square, velocity = self.state.get(name, (0.0, 0.0))
            mean_square = self.alpha * mean_square + (1 - self.alpha) * g * g
            new_velocity = self.momentum * velocity - self.lr * g / (np.sqrt(mean_square) + self.eps)
            params[name] = param + (1 + self.momentum) * new_velocity - self.momentum * velocity
            self.state[name] = (mean_square, new_velocity)
            # END SOLUTION


class AdaDelta(Optimizer):
    """As ``torch.optim.Adadelta``: ``r <- rho r + (1 - rho) g^2``,
    ``delta = sqrt(u + eps) / sqrt(r + eps) * g``, ``u <- rho u + (1 - rho) delta^2``,
    ``theta <- theta - lr * delta``."""

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.rho = rho
        self.eps = eps

    def step(self, params, grads):
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            mean_square, mean_delta = self.state.get(name, (0.0, 0.0))
            mean_square = self.rho * mean_square + (1 - self.rho) * g * g
            delta = np.sqrt(mean_delta + self.eps) / np.sqrt(mean_square + self.eps) * g
            mean_delta = self.rho * mean_delta + (1 - self.rho) * delta * delta
            self.state[name] = (mean_square, mean_delta)
            params[name] = param - self.lr * delta
            # END SOLUTION


class Adam(Optimizer):
    """As ``torch.optim.Adam``: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``theta <- theta - lr m_hat / (sqrt(v_hat) + eps)`` with the bias corrections
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)`` (``t`` counts this parameter's steps)."""

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.betas = tuple(betas)
        self.eps = eps

    def step(self, params, grads):
        beta1, beta2 = self.betas
        for name, param, g in self.gradients(params, grads):
            # BEGIN SOLUTION optimizers
            t, m, v = self.state.get(name, (0, 0.0, 0.0))
            t += 1
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            self.state[name] = (t, m, v)
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            params[name] = param - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
            # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Part 3: batch normalization and dropout, for (N, D) inputs
# ---------------------------------------------------------------------------------------------


class BatchNorm:
    """Batch normalization over the features of ``(N, D)`` inputs, like ``torch.nn.BatchNorm1d``.

    ``gamma`` (1, D) starts at ones, ``beta`` (1, D) at zeros, ``running_mean`` (1, D) at zeros
    and ``running_var`` (1, D) at ones.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        # BEGIN SOLUTION batchnorm
        self.gamma = np.ones((1, num_features))
        self.beta = np.zeros((1, num_features))
        self.running_mean = np.zeros((1, num_features))
        self.running_var = np.ones((1, num_features))
        # END SOLUTION

    def forward(self, x, train=True):
        """Normalize ``x`` (N, D), then scale by ``gamma`` and shift by ``beta``.

        Training: normalize with the batch mean and the *biased* batch variance, and update the
        running statistics as torch does: ``running = (1 - momentum) * running + momentum *
        batch_stat``, with the *unbiased* variance (N / (N - 1) times the biased one).
        Evaluation (``train=False``): normalize with the running statistics, change nothing.
        Returns ``(out (N, D), cache)``; ``cache`` is whatever ``backward`` needs.
        """
        # BEGIN SOLUTION batchnorm
        if train:
            n = x.shape[0]
            mean = x.mean(axis=0, keepdims=True)
            var = x.var(axis=0, keepdims=True)
            unbiased = var * n / (n - 1) if n > 1 else var
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean) * inv_std
        out = self.gamma * x_hat + self.beta
        return out, (x_hat, inv_std, train)
        # END SOLUTION

    def backward(self, dout, cache):
        """Gradients of the loss given ``dout`` (N, D) = d loss / d out.

        Returns ``(dx (N, D), dgamma (1, D), dbeta (1, D))``; in training mode ``dx`` accounts
        for the batch statistics depending on ``x``.
        """
        # BEGIN SOLUTION batchnorm
        x_hat, inv_std, train = cache
        dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)
        dbeta = np.sum(dout, axis=0, keepdims=True)
        dx_hat = dout * self.gamma
        if not train:
            return dx_hat * inv_std, dgamma, dbeta
        n = dout.shape[0]
        dx = inv_std / n * (n * dx_hat - dx_hat.sum(axis=0, keepdims=True)
                            - x_hat * np.sum(dx_hat * x_hat, axis=0, keepdims=True))
        return dx, dgamma, dbeta
        # END SOLUTION


class Dropout:
    """Inverted dropout: in training each entry is dropped (set to 0) with probability ``p`` and
    the kept ones are divided by ``1 - p``; in evaluation the input passes unchanged.
    ``seed`` (when not None) makes the masks reproducible: draw them from
    ``np.random.default_rng(seed)`` created in ``__init__``."""

    def __init__(self, p, seed=None):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train=True):
        """Returns ``(out, mask)``, both of the shape of ``x``; ``mask`` is what ``backward``
        needs (e.g. the 0 / (1 / (1 - p)) multipliers). In evaluation ``out`` is ``x``."""
        # BEGIN SOLUTION dropout
        if not train or self.p == 0:
            return x, np.ones_like(x)
        mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)
        return x * mask, mask
        # END SOLUTION

    def backward(self, dout, mask):
        """``dx`` (shape of ``dout``): the gradient through the same mask as the forward pass."""
        # BEGIN SOLUTION dropout
        return dout * mask
        # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Part 4: convolutional networks in PyTorch
# ---------------------------------------------------------------------------------------------


class BatchNorm2d(torch.nn.Module):
    """Your own batch normalization for ``(N, C, H, W)`` images, behaving like
    ``torch.nn.BatchNorm2d``: statistics per channel over N, H and W; ``weight`` (C,) and
    ``bias`` (C,) are parameters (ones and zeros at first); ``running_mean`` (C,) and
    ``running_var`` (C,) are buffers (zeros and ones at first), updated in training mode with
    ``running = (1 - momentum) * running + momentum * batch_stat`` (unbiased variance), and used
    in evaluation mode (``model.eval()``)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        # BEGIN SOLUTION batchnorm2d
        self.weight = torch.nn.Parameter(torch.ones(num_features))
        self.bias = torch.nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        # END SOLUTION

    def forward(self, x):
        """Normalize ``x`` (N, C, H, W) per channel; returns a tensor of the same shape."""
        # BEGIN SOLUTION batchnorm2d
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            count = x.numel() // x.shape[1]
            with torch.no_grad():
                unbiased = var * count / max(count - 1, 1)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.weight.view(shape) * x_hat + self.bias.view(shape)
        # END SOLUTION


class MnistCNN(torch.nn.Module):
    """A convolutional network for MNIST digits: ``forward`` maps images ``(N, 1, 28, 28)``
    (float, in [0, 1]) to logits ``(N, 10)`` (no softmax: the loss applies it).

    Budget: between 500,000 and 1,000,000 trainable parameters, the range of the MLP of Part 1
    (its default ``hidden_dims=(512, 256)`` has 535,818), so that the two can be compared at
    about the same size. It must contain at least one convolution."""

    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION mnist_cnn
        nn = torch.nn
        # 28x28 -> 14x14 -> 7x7; the first linear layer holds most of the 522,346 parameters.
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 160), nn.ReLU(),
                                        nn.Linear(160, 10))
        # END SOLUTION

    def forward(self, x):
        """``x`` (N, 1, 28, 28) -> logits (N, 10)."""
        # BEGIN SOLUTION mnist_cnn
        return self.classifier(self.features(x))
        # END SOLUTION


class CatsDogsCNN(torch.nn.Module):
    """A convolutional network for Kaggle's dogs vs. cats: ``forward`` maps images
    ``(N, 3, 64, 64)`` (float, in [0, 1]) to logits ``(N, 2)``; class 0 is cat, class 1 is dog.

    Rules of the Kaggle part: normalize with your ``BatchNorm2d`` above; no library
    normalization or dropout (``torch.nn.BatchNorm*``, ``LayerNorm``, ``GroupNorm``,
    ``InstanceNorm*``, ``Dropout*`` and their ``torch.nn.functional`` forms) anywhere in this
    network. Write your own module if you want dropout."""

    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION cats_dogs_cnn
        nn = torch.nn

        def block(c_in, c_out):
            # The convolution needs no bias: the batch norm right after it removes the mean.
            return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
                                 BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))

        # 64x64 -> 32 -> 16 -> 8 -> 4, then the average over the 4x4 positions.
        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 2))
        # END SOLUTION

    def forward(self, x):
        """``x`` (N, 3, 64, 64) -> logits (N, 2)."""
        # BEGIN SOLUTION cats_dogs_cnn
        return self.classifier(self.features(x))
        # END SOLUTION


def make_cats_dogs_optimizer(model):
    """The optimizer that trains ``model`` (a ``CatsDogsCNN``) on the Kaggle data: one of
    torch.optim's optimizers over all of ``model.parameters()``, except the Adam family
    (``Adam``, ``AdamW``, ``Adamax``, ``NAdam``, ``RAdam``, ``SparseAdam``): ``SGD`` (with
    momentum), ``RMSprop``, ``Adagrad``, ``Adadelta``, ``ASGD`` or ``Rprop``. The grader rebuilds
    it from its class and hyper-parameters (your code describes the optimizer; the grader runs
    it), so an optimizer class of your own cannot be graded here. The grader trains a fresh
    model with it for a few short epochs, so choose settings that learn within a few dozen
    steps."""
    # BEGIN SOLUTION cats_dogs_cnn
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    # END SOLUTION


def write_kaggle_submission(model, loader, path):
    """Write Kaggle's submission file for dogs vs. cats to ``path``.

    ``loader`` yields ``(images, ids)``: images ``(B, 3, H, W)`` and the images' integer ids
    ``(B,)``, in any order. The file is CSV with the header ``id,label`` and one row per image,
    sorted by id (as numbers), where ``label`` is the model's probability that the image is a
    dog (softmax of the logits, class 1), written with at least 2 decimals. Evaluate the model as it is meant to be used on new
    data (evaluation mode, no gradients), on the device its parameters are on."""
    # BEGIN SOLUTION kaggle_submission
    device = next(model.parameters()).device
    model.eval()
    rows = []
    with torch.no_grad():
        for images, ids in loader:
            dog = torch.softmax(model(images.to(device)), dim=1)[:, 1]
            rows += zip(torch.as_tensor(ids).tolist(), dog.cpu().tolist())
    rows.sort()
    with open(path, "w", newline="") as file:
        file.write("id,label\n")
        file.writelines(f"{int(image_id)},{p:.6f}\n" for image_id, p in rows)
    # END SOLUTION
