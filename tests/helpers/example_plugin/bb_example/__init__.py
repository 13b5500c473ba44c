"""A third-party brainbench plugin: everything it needs is this module and one entry point."""

import numpy as np

from brainbench import ModelCard, hookimpl


def build_tinynet(weights=None, seed=0):
    import torch
    from torch import nn

    from brainbench import wrap

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2))

    def preprocess(image):
        arr = np.asarray(image.resize((32, 32)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1)

    model = wrap(net, preprocess, name="tinynet", layers=["1", "3", "4"], weights=weights or "random",
                 source="bb-example", architecture="cnn", task="none", training_data="none")
    model.seed = seed
    return model


@hookimpl
def register_models(register):
    register(ModelCard(name="tinynet", source="bb-example", architecture="cnn", task="none", training_data="none",
                       weights=["random"], input_size=32), build_tinynet)


@hookimpl
def register_benchmarks(register):
    register({"id": "synthetic.late_s1", "dataset": "synthetic", "region": "late", "subjects": ["s1"],
              "metric": "ridge", "version": "1", "description": "Subject s1 of synthetic.late only."})
