# Part 4 as a small residual network: basic blocks (conv-bn-relu-conv-bn) whose output is added
# to a shortcut (`out = out + shortcut`), a 1x1 convolution on the shortcut where the shape
# changes. Appended to Parts 1-3 of the worked solution by tests/test_architectures.py; every
# test of batchnorm2d, mnist_cnn and cats_dogs_cnn must give it full marks.
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

    def forward(self, x):
        if self.training:
            batch_mean = x.mean([0, 2, 3])
            batch_var = x.var([0, 2, 3], unbiased=False)
            count = x.size(0) * x.size(2) * x.size(3)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * batch_mean
                self.running_var = ((1 - self.momentum) * self.running_var
                                    + self.momentum * batch_var * count / (count - 1))
            mean, var = batch_mean, batch_var
        else:
            mean, var = self.running_mean, self.running_var
        x = (x - mean[:, None, None]) / (var[:, None, None] + self.eps).sqrt()
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, plus the input (the shortcut)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            # 1x1 convolution so the shortcut has the same shape as the output
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                BatchNorm2d(out_channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = self.shortcut(x)
        out = out + shortcut
        return F.relu(out)


class MnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, stride=2, padding=1)   # 14x14
        self.layer1 = BasicBlock(16, 32, stride=2)              # 7x7
        self.fc1 = nn.Linear(32 * 7 * 7, 320)
        self.fc2 = nn.Linear(320, 10)

    def forward(self, x):
        out = F.relu(self.stem(x))
        out = self.layer1(out)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        return self.fc2(out)


class CatsDogsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)   # 32x32
        self.bn = BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16)               # 32x32, identity shortcut
        self.layer2 = BasicBlock(16, 32, stride=2)     # 16x16, projection shortcut
        self.layer3 = BasicBlock(32, 32, stride=2)     # 8x8
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 2)

    def forward(self, x):
        out = F.relu(self.bn(self.conv(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = self.avgpool(out)
        out = torch.flatten(out, 1)
        return self.fc(out)


def make_cats_dogs_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


def write_kaggle_submission(model, loader, path):
    model.eval()
    device = next(model.parameters()).device
    probs = {}
    with torch.no_grad():
        for images, ids in loader:
            p = F.softmax(model(images.to(device)), dim=1)[:, 1]
            for image_id, value in zip(ids.tolist(), p.tolist()):
                probs[image_id] = value
    with open(path, "w") as f:
        f.write("id,label\n")
        for image_id in sorted(probs):
            f.write(f"{image_id},{probs[image_id]:.4f}\n")
