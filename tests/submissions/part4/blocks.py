# Part 4 built from helper blocks: a ConvBlock module (conv -> batch norm -> relu) reused by both
# networks, and a small module of my own for dropout. Appended to Parts 1-3 of the worked
# solution by tests/test_architectures.py; every test of batchnorm2d, mnist_cnn and
# cats_dogs_cnn must give it full marks.
import torch.nn as nn
import torch.nn.functional as F


class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _shape(self, t):
        return t.reshape(1, self.num_features, 1, 1)

    def forward(self, x):
        if not self.training:
            x_hat = ((x - self._shape(self.running_mean))
                     / torch.sqrt(self._shape(self.running_var) + self.eps))
            return self._shape(self.weight) * x_hat + self._shape(self.bias)
        n = x.numel() / x.size(1)
        mean = x.sum(dim=(0, 2, 3)) / n
        centered = x - self._shape(mean)
        var = (centered * centered).sum(dim=(0, 2, 3)) / n
        # update the running averages; they are not part of the graph
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
        x_hat = centered / torch.sqrt(self._shape(var) + self.eps)
        return self._shape(self.weight) * x_hat + self._shape(self.bias)


class ConvBlock(nn.Module):
    """3x3 convolution, optional batch norm, ReLU and a 2x2 max pool."""

    def __init__(self, in_channels, out_channels, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn = BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(F.relu(self.bn(self.conv(x))))


class MyDropout(nn.Module):
    """Inverted dropout, only active in training mode."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.training and self.p > 0:
            mask = (torch.rand_like(x) >= self.p).float()
            return x * mask / (1 - self.p)
        return x


class MnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = ConvBlock(1, 16, batch_norm=False)    # 14x14
        self.block2 = ConvBlock(16, 32, batch_norm=False)   # 7x7
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 320), nn.ReLU(),
                                  nn.Linear(320, 10))

    def forward(self, x):
        return self.head(self.block2(self.block1(x)))


class CatsDogsCNN(nn.Module):
    def __init__(self, channels=(16, 32, 32)):
        super().__init__()
        blocks = []
        c_in = 3
        for c_out in channels:
            blocks.append(ConvBlock(c_in, c_out))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.dropout = MyDropout(0.2)
        self.fc = nn.Linear(c_in, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        x = x.mean(dim=(2, 3))   # global average pooling
        return self.fc(self.dropout(x))


def make_cats_dogs_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)


def write_kaggle_submission(model, loader, path):
    import csv

    model.eval()
    device = next(model.parameters()).device
    predictions = []
    with torch.no_grad():
        for images, ids in loader:
            probabilities = F.softmax(model(images.to(device)), dim=1)
            predictions += [(int(i), float(p)) for i, p in zip(ids, probabilities[:, 1])]
    predictions.sort()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows([(i, f"{p:.4f}") for i, p in predictions])
