# A submission written for the IFT6135 H21 template (one-hot labels passed in through `data`),
# in the style of a student of that course: the constructor fixes `self.init_method` itself
# (no init_method argument) while initialize_weights implements all three methods through a
# helper, relu'(0) = 0.5 (np.heaviside), no leaky_relu and no finite_difference, the template's
# in-place clipping in `loss` and `raise Exception("invalid")` in `activation`, matplotlib and
# tqdm imported at the top, and, at the bottom, script code that loads MNIST from a file the
# grader does not have and runs a small hyper-parameter search.
import gzip
import pickle
import time

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

SEARCH_EPOCHS = 10
DATA_FILE = "mnist.pkl.gz"


def to_one_hot(y, n_classes=10):
    return np.eye(n_classes)[y]


def load_mnist():
    with gzip.open(DATA_FILE, "rb") as f:
        train_set, valid_set, test_set = pickle.load(f, encoding="latin1")
    return [(x.reshape(-1, 784), to_one_hot(y)) for x, y in (train_set, valid_set, test_set)]


def init_layer(method, n_in, n_out):
    if method == "zero":
        return np.zeros((n_in, n_out))
    if method == "normal":
        return np.random.normal(0, 1, size=(n_in, n_out))
    if method == "glorot":
        d = np.sqrt(6 / (n_in + n_out))
        return np.random.uniform(-d, d, size=(n_in, n_out))
    raise ValueError(method)


class NN(object):
    def __init__(self, hidden_dims=(784, 256), epsilon=1e-6, lr=7e-4, batch_size=64, seed=None,
                 activation="relu", data=None):
        self.hidden_dims = hidden_dims
        self.n_hidden = len(hidden_dims)
        self.lr = lr
        self.batch_size = batch_size
        self.init_method = "glorot"
        self.seed = seed
        self.activation_str = activation
        self.epsilon = epsilon

        self.train_logs = {'train_accuracy': [], 'validation_accuracy': [], 'train_loss': [],
                           'validation_loss': []}

        if data is None:
            # for testing, do NOT remove or modify
            self.train, self.valid, self.test = (
                (np.random.rand(400, 784), to_one_hot(np.random.randint(0, 10, 400))),
                (np.random.rand(400, 784), to_one_hot(np.random.randint(0, 10, 400))),
                (np.random.rand(400, 784), to_one_hot(np.random.randint(0, 10, 400))),
            )
        else:
            self.train, self.valid, self.test = data

    def initialize_weights(self, dims):
        if self.seed is not None:
            np.random.seed(self.seed)

        self.weights = {}
        all_dims = [dims[0]] + list(self.hidden_dims) + [dims[1]]
        for layer_n in range(1, self.n_hidden + 2):
            self.weights[f"W{layer_n}"] = init_layer(self.init_method, all_dims[layer_n - 1],
                                                     all_dims[layer_n])
            self.weights[f"b{layer_n}"] = np.zeros((1, all_dims[layer_n]))

    def relu(self, x, grad=False):
        if grad:
            return np.heaviside(x, 0.5)
        return np.maximum(0, x)

    def sigmoid(self, x, grad=False):
        s = 1 / (1 + np.exp(-x))
        if grad:
            return s * (1 - s)
        return s

    def tanh(self, x, grad=False):
        t = np.tanh(x)
        if grad:
            return 1 - t ** 2
        return t

    def activation(self, x, grad=False):
        if self.activation_str == "relu":
            return self.relu(x, grad)
        elif self.activation_str == "sigmoid":
            return self.sigmoid(x, grad)
        elif self.activation_str == "tanh":
            return self.tanh(x, grad)
        else:
            raise Exception("invalid")

    def softmax(self, x):
        # Remember that softmax(x-C) = softmax(x) when C is a constant.
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def forward(self, x):
        cache = {"Z0": x}
        L = self.n_hidden + 1
        for layer in range(1, L + 1):
            cache[f"A{layer}"] = np.dot(cache[f"Z{layer - 1}"], self.weights[f"W{layer}"]) \
                + self.weights[f"b{layer}"]
            if layer == L:
                cache[f"Z{layer}"] = self.softmax(cache[f"A{layer}"])
            else:
                cache[f"Z{layer}"] = self.activation(cache[f"A{layer}"])
        return cache

    def backward(self, cache, labels):
        output = cache[f"Z{self.n_hidden + 1}"]
        grads = {}
        n = output.shape[0]
        L = self.n_hidden + 1
        grads[f"dA{L}"] = (output - labels) / n
        for layer in range(L, 0, -1):
            grads[f"dW{layer}"] = cache[f"Z{layer - 1}"].T @ grads[f"dA{layer}"]
            grads[f"db{layer}"] = grads[f"dA{layer}"].sum(axis=0, keepdims=True)
            if layer > 1:
                grads[f"dZ{layer - 1}"] = grads[f"dA{layer}"] @ self.weights[f"W{layer}"].T
                grads[f"dA{layer - 1}"] = grads[f"dZ{layer - 1}"] * self.activation(
                    cache[f"A{layer - 1}"], grad=True)
        return grads

    def update(self, grads):
        for layer in range(1, self.n_hidden + 2):
            self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]
            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]

    def loss(self, prediction, labels):
        prediction[np.where(prediction < self.epsilon)] = self.epsilon
        prediction[np.where(prediction > 1 - self.epsilon)] = 1 - self.epsilon
        return -np.mean(np.sum(labels * np.log(prediction), axis=1))

    def compute_loss_and_accuracy(self, X, y):
        one_y = y
        y = np.argmax(y, axis=1)  # Change y to integers
        cache = self.forward(X)
        predictions = np.argmax(cache[f"Z{self.n_hidden + 1}"], axis=1)
        accuracy = np.mean(y == predictions)
        loss = self.loss(cache[f"Z{self.n_hidden + 1}"], one_y)
        return loss, accuracy, predictions

    def train_loop(self, n_epochs):
        X_train, y_train = self.train
        y_onehot = y_train
        dims = [X_train.shape[1], y_onehot.shape[1]]
        self.initialize_weights(dims)

        n_batches = int(np.ceil(X_train.shape[0] / self.batch_size))

        for epoch in range(n_epochs):
            for batch in range(n_batches):
                minibatchX = X_train[self.batch_size * batch:self.batch_size * (batch + 1), :]
                minibatchY = y_onehot[self.batch_size * batch:self.batch_size * (batch + 1), :]
                cache = self.forward(minibatchX)
                grads = self.backward(cache, minibatchY)
                self.update(grads)

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
        X_test, y_test = self.test
        test_loss, test_accuracy, _ = self.compute_loss_and_accuracy(X_test, y_test)
        return test_loss, test_accuracy


mnist = load_mnist()
results = {}
for lr in tqdm([1e-2, 1e-1]):
    for hidden in [(512, 256), (784, 256)]:
        start = time.time()
        model = NN(hidden_dims=hidden, lr=lr, batch_size=64, data=mnist)
        logs = model.train_loop(SEARCH_EPOCHS)
        results[(lr, hidden)] = logs["validation_accuracy"][-1]
        print(lr, hidden, results[(lr, hidden)], time.time() - start)

plt.plot(model.train_logs["validation_accuracy"])
plt.savefig("search.png")
