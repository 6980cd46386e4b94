# Part 4 written with nn.Sequential only: MnistCNN *is* a Sequential (no forward of its own),
# CatsDogsCNN keeps one Sequential and calls it. Appended to Parts 1-3 of the worked solution by
# tests/test_architectures.py; every test of batchnorm2d, mnist_cnn and cats_dogs_cnn must give
# it full marks.
import torch.nn as nn


class BatchNorm2d(nn.Module):
    """My batch norm for images: one mean and variance per channel."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        # learnable scale and shift
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        # running statistics for eval mode (buffers, not parameters)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            # statistics over batch, height and width
            mean = x.mean(dim=[0, 2, 3])
            var = ((x - mean[None, :, None, None]) ** 2).mean(dim=[0, 2, 3])
            n = x.shape[0] * x.shape[2] * x.shape[3]
            with torch.no_grad():
                # torch stores the unbiased variance in running_var
                self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
                self.running_var.mul_(1 - self.momentum).add_(var * n / (n - 1), alpha=self.momentum)
        else:
            mean = self.running_mean
            var = self.running_var
        x_norm = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
        return x_norm * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class MnistCNN(nn.Sequential):
    """conv -> pool -> conv -> pool -> two linear layers, all in one Sequential."""

    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),   # 16 x 28 x 28
            nn.ReLU(),
            nn.MaxPool2d(2),                              # 16 x 14 x 14
            nn.Conv2d(16, 32, kernel_size=3, padding=1),  # 32 x 14 x 14
            nn.ReLU(),
            nn.MaxPool2d(2),                              # 32 x 7 x 7
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 384),                   # most of the ~610k parameters
            nn.ReLU(),
            nn.Linear(384, 10),                           # logits, the loss does the softmax
        )


class CatsDogsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 32x32
            nn.Conv2d(16, 32, 3, padding=1), BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(32, 32, 3, padding=1), BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 8x8
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(32, 2),
        )

    def forward(self, x):
        return self.net(x)


def make_cats_dogs_optimizer(model):
    # plain SGD with momentum (Adam is not allowed in the Kaggle part)
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def write_kaggle_submission(model, loader, path):
    device = next(model.parameters()).device
    model.eval()
    results = []
    with torch.no_grad():
        for images, ids in loader:
            probs = torch.softmax(model(images.to(device)), dim=1)
            for i, p in zip(ids.tolist(), probs[:, 1].tolist()):
                results.append((i, p))
    results.sort(key=lambda row: row[0])
    with open(path, "w") as f:
        f.write("id,label\n")
        for i, p in results:
            f.write(f"{i},{p:.4f}\n")
