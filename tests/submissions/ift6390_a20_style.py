# A submission written for the IFT6390 A20 template, in the style of a student of that course:
# integer labels converted by `self.one_hot` in the template's own train_loop, leaky relu spelled
# `leakyrelu` (method and activation string), the zero initializer spelled "zeros",
# relu'(0) = 1 and leakyrelu'(0) = 1 (both valid subgradients at the kink), a `normalization`
# option, the template's in-place clipping and `raise Exception("invalid")`, and matplotlib and
# tqdm imported at the top for the report's plots. No finite_difference (not in that template).
# Every method it has is correct.
import pickle

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm


class NN(object):
    def __init__(self,
                 hidden_dims=(512, 256),
                 datapath='svhn.pkl',
                 n_classes=10,
                 epsilon=1e-6,
                 lr=7e-4,
                 batch_size=1000,
                 seed=None,
                 activation="relu",
                 init_method="glorot",
                 normalization=False
                 ):

        self.hidden_dims = hidden_dims
        self.n_hidden = len(hidden_dims)
        self.datapath = datapath
        self.n_classes = n_classes
        self.lr = lr
        self.batch_size = batch_size
        self.init_method = init_method
        self.seed = seed
        self.activation_str = activation
        self.epsilon = epsilon

        self.train_logs = {'train_accuracy': [], 'validation_accuracy': [], 'train_loss': [],
                           'validation_loss': []}

        if datapath is not None:
            u = pickle._Unpickler(open(datapath, 'rb'))
            u.encoding = 'latin1'
            self.train, self.valid, self.test = u.load()
            if normalization:
                self.normalize()
        else:
            self.train, self.valid, self.test = None, None, None

    def initialize_weights(self, dims):
        if self.seed is not None:
            np.random.seed(self.seed)

        self.weights = {}
        all_dims = [dims[0]] + list(self.hidden_dims) + [dims[1]]
        for layer_n in range(1, self.n_hidden + 2):
            shape = (all_dims[layer_n - 1], all_dims[layer_n])
            if self.init_method == "zeros":
                w = np.zeros(shape)
            elif self.init_method == "normal":
                w = np.random.normal(0.0, 1.0, shape)
            elif self.init_method == "glorot":
                limit = np.sqrt(6 / (shape[0] + shape[1]))
                w = np.random.uniform(-limit, limit, shape)
            else:
                raise Exception("invalid")
            self.weights[f"W{layer_n}"] = w
            self.weights[f"b{layer_n}"] = np.zeros((1, all_dims[layer_n]))

    def relu(self, x, grad=False):
        if grad:
            return (x >= 0).astype(float)
        return np.maximum(x, 0)

    def sigmoid(self, x, grad=False):
        s = 0.5 * (1 + np.tanh(0.5 * x))
        if grad:
            return s * (1 - s)
        return s

    def tanh(self, x, grad=False):
        t = np.tanh(x)
        if grad:
            return 1 - t * t
        return t

    def leakyrelu(self, x, grad=False):
        alpha = 0.01
        if grad:
            d = np.ones_like(x, dtype=float)
            d[x < 0] = alpha
            return d
        return np.where(x > 0, x, alpha * x)

    def activation(self, x, grad=False):
        if self.activation_str == "relu":
            return self.relu(x, grad)
        elif self.activation_str == "sigmoid":
            return self.sigmoid(x, grad)
        elif self.activation_str == "tanh":
            return self.tanh(x, grad)
        elif self.activation_str == "leakyrelu":
            return self.leakyrelu(x, grad)
        else:
            raise Exception("invalid")

    def softmax(self, x):
        # Remember that softmax(x-C) = softmax(x) when C is a constant.
        shifted = x - np.max(x, axis=-1, keepdims=True)
        ex = np.exp(shifted)
        return ex / np.sum(ex, axis=-1, keepdims=True)

    def forward(self, x):
        cache = {"Z0": x}
        for layer_n in range(1, self.n_hidden + 2):
            cache[f"A{layer_n}"] = np.matmul(cache[f"Z{layer_n - 1}"], self.weights[f"W{layer_n}"]) \
                + self.weights[f"b{layer_n}"]
            if layer_n == self.n_hidden + 1:
                cache[f"Z{layer_n}"] = self.softmax(cache[f"A{layer_n}"])
            else:
                cache[f"Z{layer_n}"] = self.activation(cache[f"A{layer_n}"])
        return cache

    def backward(self, cache, labels):
        output = cache[f"Z{self.n_hidden + 1}"]
        grads = {}
        n = len(labels)
        delta = (output - labels) / n
        for layer_n in range(self.n_hidden + 1, 0, -1):
            grads[f"dA{layer_n}"] = delta
            grads[f"dW{layer_n}"] = np.matmul(cache[f"Z{layer_n - 1}"].T, delta)
            grads[f"db{layer_n}"] = np.sum(delta, axis=0, keepdims=True)
            if layer_n > 1:
                grads[f"dZ{layer_n - 1}"] = np.matmul(delta, self.weights[f"W{layer_n}"].T)
                delta = grads[f"dZ{layer_n - 1}"] * self.activation(cache[f"A{layer_n - 1}"],
                                                                      grad=True)
        return grads

    def update(self, grads):
        for layer in range(1, self.n_hidden + 2):
            self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]
            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]

    def one_hot(self, y):
        return np.eye(self.n_classes)[y]

    def loss(self, prediction, labels):
        prediction[np.where(prediction < self.epsilon)] = self.epsilon
        prediction[np.where(prediction > 1 - self.epsilon)] = 1 - self.epsilon
        return -np.sum(labels * np.log(prediction)) / labels.shape[0]

    def compute_loss_and_accuracy(self, X, y):
        one_y = self.one_hot(y)
        cache = self.forward(X)
        predictions = np.argmax(cache[f"Z{self.n_hidden + 1}"], axis=1)
        accuracy = np.mean(y == predictions)
        loss = self.loss(cache[f"Z{self.n_hidden + 1}"], one_y)
        return loss, accuracy, predictions

    def train_loop(self, n_epochs):
        X_train, y_train = self.train
        y_onehot = self.one_hot(y_train)
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

    def normalize(self):
        mean = np.mean(self.train[0], axis=0)
        std = np.std(self.train[0], axis=0)
        self.train = ((self.train[0] - mean) / (std + self.epsilon), self.train[1])
        self.valid = ((self.valid[0] - mean) / (std + self.epsilon), self.valid[1])
        self.test = ((self.test[0] - mean) / (std + self.epsilon), self.test[1])

    def plot_logs(self, path):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(self.train_logs['train_loss'], label="train")
        ax1.plot(self.train_logs['validation_loss'], label="validation")
        ax2.plot(self.train_logs['train_accuracy'], label="train")
        ax2.plot(self.train_logs['validation_accuracy'], label="validation")
        for ax, what in ((ax1, "loss"), (ax2, "accuracy")):
            ax.set_xlabel("epoch")
            ax.set_ylabel(what)
            ax.legend()
        fig.savefig(path)


if __name__ == "__main__":
    for act in tqdm(["relu", "sigmoid", "tanh", "leakyrelu"]):
        net = NN(activation=act, normalization=True, lr=0.01, batch_size=100, seed=1)
        net.train_loop(30)
        net.plot_logs(f"{act}.png")
