# A submission written for the original IFT6135 course template: a `datapath` argument that
# loads a pickle, no `init_method` (Glorot only), no leaky_relu, no finite_difference, and the
# template's given in-place clipping in `loss`. Written in the style of a student of that course.
import pickle

import numpy as np


class NN(object):
    def __init__(self, hidden_dims=(512, 256), datapath='cifar10.pkl', n_classes=10, epsilon=1e-6,
                 lr=7e-4, batch_size=1000, seed=None, activation="relu"):
        self.hidden_dims = hidden_dims
        self.n_hidden = len(hidden_dims)
        self.datapath = datapath
        self.n_classes = n_classes
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.activation_str = activation
        self.epsilon = epsilon

        self.train_logs = {'train_accuracy': [], 'validation_accuracy': [], 'train_loss': [],
                           'validation_loss': []}

        if datapath is not None:
            u = pickle._Unpickler(open(datapath, 'rb'))
            u.encoding = 'latin1'
            self.train, self.valid, self.test = u.load()
        else:
            self.train, self.valid, self.test = None, None, None

    def initialize_weights(self, dims):
        if self.seed is not None:
            np.random.seed(self.seed)

        self.weights = {}
        all_dims = [dims[0]] + list(self.hidden_dims) + [dims[1]]
        for layer_n in range(1, self.n_hidden + 2):
            limit = np.sqrt(6 / (all_dims[layer_n - 1] + all_dims[layer_n]))
            self.weights[f"W{layer_n}"] = np.random.uniform(
                -limit, limit, (all_dims[layer_n - 1], all_dims[layer_n]))
            self.weights[f"b{layer_n}"] = np.zeros((1, all_dims[layer_n]))

    def relu(self, x, grad=False):
        if grad:
            return np.where(x > 0, 1.0, 0.0)
        return np.where(x > 0, x, 0.0)

    def sigmoid(self, x, grad=False):
        sig = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
        if grad:
            return sig * (1 - sig)
        return sig

    def tanh(self, x, grad=False):
        if grad:
            return 1 - np.tanh(x) ** 2
        return np.tanh(x)

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
        z = x - np.max(x, axis=-1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)

    def forward(self, x):
        cache = {"Z0": x}
        for i in range(1, self.n_hidden + 2):
            cache[f"A{i}"] = np.dot(cache[f"Z{i-1}"], self.weights[f"W{i}"]) + self.weights[f"b{i}"]
            if i == self.n_hidden + 1:
                cache[f"Z{i}"] = self.softmax(cache[f"A{i}"])
            else:
                cache[f"Z{i}"] = self.activation(cache[f"A{i}"])
        return cache

    def backward(self, cache, labels):
        output = cache[f"Z{self.n_hidden + 1}"]
        grads = {}
        m = labels.shape[0]
        L = self.n_hidden + 1
        grads[f"dA{L}"] = output - labels
        for i in range(L, 0, -1):
            if i < L:
                grads[f"dZ{i}"] = np.dot(grads[f"dA{i+1}"], self.weights[f"W{i+1}"].T)
                grads[f"dA{i}"] = grads[f"dZ{i}"] * self.activation(cache[f"A{i}"], grad=True)
            grads[f"dW{i}"] = np.dot(cache[f"Z{i-1}"].T, grads[f"dA{i}"]) / m
            grads[f"db{i}"] = np.sum(grads[f"dA{i}"], axis=0, keepdims=True) / m
        # the course asks for the gradients of the mean loss, including dA and dZ
        for key in list(grads):
            if key.startswith(("dA", "dZ")):
                grads[key] = grads[key] / m
        return grads

    def update(self, grads):
        for layer in range(1, self.n_hidden + 2):
            self.weights[f"W{layer}"] -= self.lr * grads[f"dW{layer}"]
            self.weights[f"b{layer}"] -= self.lr * grads[f"db{layer}"]

    def loss(self, prediction, labels):
        prediction[np.where(prediction < self.epsilon)] = self.epsilon
        prediction[np.where(prediction > 1 - self.epsilon)] = 1 - self.epsilon
        return -np.sum(labels * np.log(prediction)) / prediction.shape[0]

    def compute_loss_and_accuracy(self, X, y):
        one_y = y
        y = np.argmax(y, axis=1)
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
        loss, accuracy, _ = self.compute_loss_and_accuracy(X_test, y_test)
        return loss, accuracy
