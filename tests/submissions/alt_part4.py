# Part 4 written the way another student might: other architectures, functional style, another
# optimizer, pandas-free csv module. Appended to Parts 1-3 of the worked solution by
# tests/test_grading.py; every test of Part 4 must give it full marks.
import csv

import torch.nn.functional as F
from torch import nn


class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        # channels first, everything else flattened: (C, N*H*W)
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        if self.training:
            mu = flat.mean(1)
            centered = flat - mu[:, None]
            var = (centered ** 2).mean(1)
            n = flat.shape[1]
            with torch.no_grad():
                self.running_mean.copy_((1 - self.momentum) * self.running_mean + self.momentum * mu)
                self.running_var.copy_((1 - self.momentum) * self.running_var
                                       + self.momentum * var * n / (n - 1))
        else:
            mu, var = self.running_mean, self.running_var
            centered = flat - mu[:, None]
        out = centered / torch.sqrt(var[:, None] + self.eps) * self.weight[:, None] + self.bias[:, None]
        return out.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


class MnistCNN(nn.Module):
    """LeNet-like, with torch's batch norm and dropout (allowed outside the Kaggle part)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.bn1 = nn.BatchNorm2d(20)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(4 * 4 * 50, 600)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(600, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop(F.relu(self.fc1(x.view(x.size(0), -1))))
        return self.fc2(x)


class OwnDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = (torch.rand_like(x) > self.p).to(x.dtype)
        return x * keep / (1 - self.p)


class CatsDogsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3 = BatchNorm2d(64)
        self.drop = OwnDropout(0.25)
        self.fc1 = nn.Linear(64 * 8 * 8, 64)
        self.fc2 = nn.Linear(64, 2)

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2)
        x = self.drop(torch.flatten(x, 1))
        return self.fc2(F.relu(self.fc1(x)))


def make_cats_dogs_optimizer(model):
    return torch.optim.RMSprop(model.parameters(), lr=1e-3)


def write_kaggle_submission(model, loader, path):
    model.eval()
    predictions = {}
    device = next(model.parameters()).device
    with torch.no_grad():
        for images, ids in loader:
            probabilities = F.softmax(model(images.to(device)), dim=1)
            for image_id, p in zip(ids, probabilities[:, 1]):
                predictions[int(image_id)] = float(p)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "label"])
        for image_id in sorted(predictions):
            writer.writerow([image_id, round(predictions[image_id], 5)])
