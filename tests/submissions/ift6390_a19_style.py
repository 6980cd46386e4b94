# A submission written for the IFT6390 A19 template, in the style of a student of that course:
# the data set is a pickle of integer labels (`datapath`), the template's own train_loop and
# compute_loss_and_accuracy convert them with `self.one_hot`, the constructor takes
# `n_classes` and `init_method`, the template's in-place clipping in `loss` and
# `raise Exception("invalid")` in `activation` are kept, torchvision is imported at the top and
# the experiments sit under `if __name__ == "__main__":`. One real bug: the student edited the
# given compute_loss_and_accuracy and reads the last hidden layer's cache key instead of the
# output's, so it crashes; every other method is right. Only a run of the student's own loop
# can see it.
import pickle

import numpy as np
import torchvision


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
                 init_method="glorot"
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
        else:
            self.train, self.valid, self.test = None, None, None

    def initialize_weights(self, dims):
        if self.seed is not None:
            np.random.seed(self.seed)

        self.weights = {}
        # self.weights is a dictionnary with keys W1, b1, W2, b2, ..., Wm, Bm where m - 1 is
        # the number of hidden layers
        all_dims = [dims[0]] + list(self.hidden_dims) + [dims[1]]
        for layer_n in range(1, self.n_hidden + 2):
            fan_in, fan_out = all_dims[layer_n - 1], all_dims[layer_n]
            if self.init_method == "zero":
                self.weights[f"W{layer_n}"] = np.zeros((fan_in, fan_out))
            elif self.init_method == "normal":
                self.weights[f"W{layer_n}"] = np.random.randn(fan_in, fan_out)
            elif self.init_method == "glorot":
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                self.weights[f"W{layer_n}"] = np.random.uniform(-bound, bound, (fan_in, fan_out))
            else:
                raise Exception("invalid")
            self.weights[f"b{layer_n}"] = np.zeros((1, fan_out))

    def relu(self, x, grad=False):
        if grad:
            return 1.0 * (x > 0)
        return x * (x > 0)

    def sigmoid(self, x, grad=False):
        out = np.empty_like(x, dtype=float)
        pos = x >= 0
        out[pos] = 1 / (1 + np.exp(-x[pos]))
        out[~pos] = np.exp(x[~pos]) / (1 + np.exp(x[~pos]))
        if grad:
            return out * (1 - out)
        return out

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
        return 0

    def softmax(self, x):
        # Remember that softmax(x-C) = softmax(x) when C is a constant.
        if x.ndim == 1:
            z = np.exp(x - x.max())
            return z / z.sum()
        z = np.exp(x - x.max(axis=1)[:, None])
        return z / z.sum(axis=1)[:, None]

    def forward(self, x):
        cache = {"Z0": x}
        # cache is a dictionnary with keys Z0, A0, ..., Zm, Am where m - 1 is the number of
        # hidden layers. Ai corresponds to the preactivation at layer i, Zi corresponds to the
        # activation at layer i
        for i in range(1, self.n_hidden + 2):
            cache[f"A{i}"] = cache[f"Z{i - 1}"] @ self.weights[f"W{i}"] + self.weights[f"b{i}"]
            if i <= self.n_hidden:
                cache[f"Z{i}"] = self.activation(cache[f"A{i}"])
            else:
                cache[f"Z{i}"] = self.softmax(cache[f"A{i}"])
        return cache

    def backward(self, cache, labels):
        output = cache[f"Z{self.n_hidden + 1}"]
        grads = {}
        # grads is a dictionnary with keys dAm, dWm, dbm, dZ(m-1), dA(m-1), ..., dW1, db1
        m = self.n_hidden + 1
        batch = labels.shape[0]
        grads[f"dA{m}"] = (output - labels) / batch
        for i in range(m, 0, -1):
            if i < m:
                grads[f"dZ{i}"] = grads[f"dA{i + 1}"] @ self.weights[f"W{i + 1}"].T
                grads[f"dA{i}"] = grads[f"dZ{i}"] * self.activation(cache[f"A{i}"], grad=True)
            grads[f"dW{i}"] = cache[f"Z{i - 1}"].T @ grads[f"dA{i}"]
            grads[f"db{i}"] = np.sum(grads[f"dA{i}"], axis=0, keepdims=True)
        return grads

    def update(self, grads):
        for layer in range(1, self.n_hidden + 2):
            self.weights[f"W{layer}"] = self.weights[f"W{layer}"] - self.lr * grads[f"dW{layer}"]
            self.weights[f"b{layer}"] = self.weights[f"b{layer}"] - self.lr * grads[f"db{layer}"]

    def one_hot(self, y):
        out = np.zeros((y.shape[0], self.n_classes))
        out[np.arange(y.shape[0]), y.astype(int)] = 1
        return out

    def loss(self, prediction, labels):
        prediction[np.where(prediction < self.epsilon)] = self.epsilon
        prediction[np.where(prediction > 1 - self.epsilon)] = 1 - self.epsilon
        return -np.sum(labels * np.log(prediction)) / prediction.shape[0]

    def compute_loss_and_accuracy(self, X, y):
        one_y = self.one_hot(y)
        cache = self.forward(X)
        predictions = np.argmax(cache[f"Z{self.n_hidden + 1}"], axis=1)
        accuracy = np.mean(y == predictions)
        loss = self.loss(cache[f"Z{self.n_hidden}"], one_y)
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
                grads = self.backward(self.forward(minibatchX), minibatchY)
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


if __name__ == "__main__":
    mean, std = 0.5, 0.25
    transform = torchvision.transforms.Normalize(mean, std)
    for activation in ("relu", "sigmoid", "tanh"):
        nn = NN(activation=activation, lr=1e-2, batch_size=100, seed=0)
        logs = nn.train_loop(20)
        print(activation, logs["validation_accuracy"][-1], nn.evaluate())
