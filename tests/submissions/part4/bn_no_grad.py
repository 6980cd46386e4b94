# Part 4 whose BatchNorm2d computes and stores its running statistics inside a torch.no_grad()
# block (in-place `*=` / `+=` on the buffers), and VGG-like networks (two convolutions per
# stage). Appended to Parts 1-3 of the worked solution by tests/test_architectures.py; every
# test of batchnorm2d, mnist_cnn and cats_dogs_cnn must give it full marks.
import torch.nn as nn


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
            mean = torch.mean(x, dim=(0, 2, 3), keepdim=True)
            var = torch.mean((x - mean) ** 2, dim=(0, 2, 3), keepdim=True)
            # the running statistics must not be part of the autograd graph
            with torch.no_grad():
                unbiased = torch.var(x, dim=(0, 2, 3), unbiased=True)
                self.running_mean *= 1 - self.momentum
                self.running_mean += self.momentum * mean.squeeze()
                self.running_var *= 1 - self.momentum
                self.running_var += self.momentum * unbiased
        else:
            mean = self.running_mean.view(1, -1, 1, 1)
            var = self.running_var.view(1, -1, 1, 1)
        x_hat = (x - mean) * torch.rsqrt(var + self.eps)
        return self.weight.view(1, -1, 1, 1) * x_hat + self.bias.view(1, -1, 1, 1)


class MnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                      # 14x14
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                      # 7x7
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 7 * 7, 640), nn.ReLU(),
            nn.Linear(640, 10),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.reshape(x.shape[0], -1)
        return self.classifier(x)


class CatsDogsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(4),                      # 16x16
            nn.Conv2d(16, 32, 3, padding=1), BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),                      # 8x8
        )
        self.classifier = nn.Linear(32 * 8 * 8, 2)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.flatten(1))


def make_cats_dogs_optimizer(model):
    return torch.optim.Adagrad(model.parameters(), lr=0.02)


def write_kaggle_submission(model, loader, path):
    model.eval()
    device = next(model.parameters()).device
    rows = []
    with torch.no_grad():
        for images, ids in loader:
            dog = torch.softmax(model(images.to(device)), dim=1)[:, 1]
            rows.extend(zip(ids.tolist(), dog.tolist()))
    with open(path, "w") as f:
        f.write("id,label\n")
        for image_id, p in sorted(rows):
            f.write("{},{:.4f}\n".format(image_id, p))
