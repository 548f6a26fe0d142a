"""MobileNetV4-Conv-Small (timm ``mobilenetv4_conv_small``), written from the
spec in ../shared/models/MobileNetV4.md.

Module and attribute names follow timm's state-dict layout (``conv_stem``,
``bn1``, ``blocks.S.I.{conv,bn1}`` for ConvBnAct, ``blocks.S.I.{dw_start,
pw_exp,dw_mid,pw_proj}.{conv,bn}`` for UIB, ``conv_head``, ``norm_head``,
``classifier``), so a timm checkpoint would load with ``load_state_dict``.

Conventions (spec section 1): ReLU everywhere, BatchNorm eps 1e-5, no conv
bias, symmetric PyTorch padding ((s-1)+(k-1))//2, no SE, no layer scale.
"""
import torch
import torch.nn as nn


def make_divisible(v, divisor=8, min_value=None, round_limit=0.9):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def _pad(k, s):
    return ((s - 1) + (k - 1)) // 2


class ConvNorm(nn.Module):
    """conv (no bias) -> BN -> optional ReLU; keys ``conv.*`` and ``bn.*``."""

    def __init__(self, cin, cout, k, s=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, _pad(k, s), groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)
        self.act = nn.ReLU(inplace=False) if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ConvBnAct(nn.Module):
    """Block string ``cn``: conv kxk stride s -> BN -> ReLU (keys conv, bn1)."""

    def __init__(self, cin, cout, k, s):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, _pad(k, s), bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5)
        self.act = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.act(self.bn1(self.conv(x)))


class UIB(nn.Module):
    """Universal Inverted Bottleneck (block string ``uir``).

    a: start depthwise kernel (0 = absent), k: middle depthwise kernel
    (0 = absent), e: expansion, s: stride, cout: output channels.
    """

    def __init__(self, cin, cout, a, k, e, s):
        super().__init__()
        mid = make_divisible(cin * e, 8)
        self.has_skip = cin == cout and s == 1
        if a:
            # the start DW carries the stride only when there is no middle DW
            self.dw_start = ConvNorm(cin, cin, a, 1 if k else s, groups=cin, act=False)
        else:
            self.dw_start = nn.Identity()
        self.pw_exp = ConvNorm(cin, mid, 1, 1, act=True)
        if k:
            self.dw_mid = ConvNorm(mid, mid, k, s, groups=mid, act=True)
        else:
            self.dw_mid = nn.Identity()
        self.pw_proj = ConvNorm(mid, cout, 1, 1, act=False)

    def forward(self, x):
        y = self.dw_start(x)
        y = self.pw_exp(y)
        y = self.dw_mid(y)
        y = self.pw_proj(y)
        if self.has_skip:
            y = x + y  # no activation after the add
        return y


# (type, repeats, a, k, s, e, cout) per stage; timm block strings in the spec
_ARCH = [
    [("cn", 1, 0, 3, 2, 1, 32), ("cn", 1, 0, 1, 1, 1, 32)],
    [("cn", 1, 0, 3, 2, 1, 96), ("cn", 1, 0, 1, 1, 1, 64)],
    [("uir", 1, 5, 5, 2, 3, 96), ("uir", 4, 0, 3, 1, 2, 96), ("uir", 1, 3, 0, 1, 4, 96)],
    [("uir", 1, 3, 3, 2, 6, 128), ("uir", 1, 5, 5, 1, 4, 128), ("uir", 1, 0, 5, 1, 4, 128),
     ("uir", 1, 0, 5, 1, 3, 128), ("uir", 2, 0, 3, 1, 4, 128)],
    [("cn", 1, 0, 1, 1, 1, 960)],
]


class MobileNetV4ConvSmall(nn.Module):
    def __init__(self, num_classes=1000, num_features=1280):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, 32, 3, 2, _pad(3, 2), bias=False)
        self.bn1 = nn.BatchNorm2d(32, eps=1e-5)
        self.act1 = nn.ReLU(inplace=False)
        cin = 32
        stages = []
        for stage in _ARCH:
            blocks = []
            for typ, reps, a, k, s, e, cout in stage:
                for r in range(reps):
                    stride = s if r == 0 else 1
                    if typ == "cn":
                        blocks.append(ConvBnAct(cin, cout, k, stride))
                    else:
                        blocks.append(UIB(cin, cout, a, k, e, stride))
                    cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        # efficient head: pool first, then 1x1 conv + BN + ReLU on a 1x1 map
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(cin, num_features, 1, 1, 0, bias=False)
        self.norm_head = nn.BatchNorm2d(num_features, eps=1e-5)
        self.act2 = nn.ReLU(inplace=False)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.global_pool(x)
        x = self.act2(self.norm_head(self.conv_head(x)))
        x = self.flatten(x)
        return self.classifier(x)


def build(num_classes=1000, **kw):
    """MobileNetV4-Conv-Small in eval mode (weights from the caller's seed)."""
    if kw:
        raise TypeError("mobilenetv4.build: unexpected arguments %s" % sorted(kw))
    return MobileNetV4ConvSmall(num_classes=num_classes).eval()
