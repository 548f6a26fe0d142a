"""UNet-328: the two-input (image + audio) lip-sync UNet, audio mode 'ave'.

Written from the project's specification /work/shared/models/UNet328.md (our own code;
nothing is copied from upstream).  Module names follow the SyncTalk_2D
`unet_328.Model(6, 'ave')` state-dict layout (556 entries, 12,186,935 parameters).

    model = build()                    # eval mode
    out = model(image, audio)          # image [B,6,320,320] BGR in [0,1],
                                       # audio [B,32,16,16]  -> [B,3,320,320] in (0,1)

Initialisation is PyTorch's default (global RNG, so torch.manual_seed by the caller
makes it deterministic).  BatchNorm statistics are left at their defaults; the zoo
randomises them.  `calibrate_output()` optionally rescales the final 1x1 conv so the
pre-sigmoid logits have a chosen mean/std on given inputs (spec section 7: mean 0,
std 1.5), which keeps the sigmoid out of saturation.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED_PARAMS = 12_186_935
EXPECTED_STATE_ENTRIES = 556


class InvertedResidual(nn.Module):
    """pw cin->m, BN, ReLU, dw 3x3 (stride), BN, ReLU, pw m->cout, BN (+ x if skip)."""

    def __init__(self, cin, cout, stride, skip, expand=2):
        super().__init__()
        m = cin * expand
        self.use_res_connect = skip            # a flag, not derived from shapes
        self.conv = nn.Sequential(
            nn.Conv2d(cin, m, 1, 1, 0, bias=False),
            nn.BatchNorm2d(m),
            nn.ReLU(inplace=True),
            nn.Conv2d(m, m, 3, stride, 1, groups=m, bias=False),
            nn.BatchNorm2d(m),
            nn.ReLU(inplace=True),
            nn.Conv2d(m, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class DoubleConvDW(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.double_conv = nn.Sequential(
            InvertedResidual(cin, cout, stride, False),
            InvertedResidual(cout, cout, 1, True),
        )

    def forward(self, x):
        return self.double_conv(x)


class InConvDw(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.inconv = nn.Sequential(InvertedResidual(cin, cout, 1, False))

    def forward(self, x):
        return self.inconv(x)


class Down(nn.Module):
    """No pooling despite the key name: the stride-2 dw conv halves H and W."""

    def __init__(self, cin, cout):
        super().__init__()
        self.maxpool_conv = nn.Sequential(DoubleConvDW(cin, cout, 2))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConvDW(cin, cout, 1)

    def forward(self, a, s):
        a = self.up(a)
        dh = s.size()[2] - a.size()[2]
        dw = s.size()[3] - a.size()[3]
        a = F.pad(a, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])   # no-op at 320
        return self.conv(torch.cat([a, s], dim=1))                    # upsampled first


class OutConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class AudioConvAve(nn.Module):
    """[B,32,16,16] -> [B,512,10,10]."""

    def __init__(self):
        super().__init__()
        self.conv1 = InvertedResidual(32, 64, 1, False)
        self.conv2 = InvertedResidual(64, 128, 1, False)
        self.conv3 = nn.Conv2d(128, 256, 3, 1, 1, bias=True)
        self.bn3 = nn.BatchNorm2d(256)
        self.conv4 = InvertedResidual(256, 256, 1, True)
        self.conv5 = nn.Conv2d(256, 512, 3, 2, 3, bias=True)   # pad 3 > k-1: 16 -> 10
        self.bn5 = nn.BatchNorm2d(512)
        self.conv6 = InvertedResidual(512, 512, 1, True)
        self.conv7 = InvertedResidual(512, 512, 1, True)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        x = self.relu(self.bn3(self.conv3(x)))
        x = self.conv4(x)
        x = self.relu(self.bn5(self.conv5(x)))
        return self.conv7(self.conv6(x))


class UNet328(nn.Module):
    def __init__(self, n_channels=6):
        super().__init__()
        ch = [32, 64, 128, 256, 512]
        self.n_channels = n_channels
        self.inc = InConvDw(n_channels, ch[0])
        self.down1 = Down(ch[0], ch[0])
        self.down2 = Down(ch[0], ch[1])
        self.down3 = Down(ch[1], ch[2])
        self.down4 = Down(ch[2], ch[3])
        self.down5 = Down(ch[3], ch[4])
        self.up1 = Up(ch[4], ch[3] // 2)
        self.up2 = Up(ch[3], ch[2] // 2)
        self.up3 = Up(ch[2], ch[1] // 2)
        self.up4 = Up(ch[1], ch[0])
        self.up5 = Up(ch[1], ch[0] // 2)
        self.outc = OutConv(ch[0] // 2, 3)
        self.audio_model = AudioConvAve()
        self.fuse_conv = nn.Sequential(
            DoubleConvDW(ch[4] * 2, ch[4], 1),
            DoubleConvDW(ch[4], ch[3], 1),
        )

    def logits(self, x, audio):
        x1 = self.inc(x)          # 32 x 320
        x2 = self.down1(x1)       # 32 x 160
        x3 = self.down2(x2)       # 64 x 80
        x4 = self.down3(x3)       # 128 x 40
        x5 = self.down4(x4)       # 256 x 20
        x6 = self.down5(x5)       # 512 x 10
        a = self.audio_model(audio)                        # 512 x 10
        x6 = self.fuse_conv(torch.cat([x6, a], dim=1))     # image first -> 256 x 10
        y = self.up1(x6, x5)
        y = self.up2(y, x4)
        y = self.up3(y, x3)
        y = self.up4(y, x2)
        y = self.up5(y, x1)
        return self.outc(y)

    def forward(self, x, audio):
        return torch.sigmoid(self.logits(x, audio))


def build():
    """UNet-328 (mode 'ave') in eval mode: forward(image [B,6,320,320], audio [B,32,16,16])
    -> [B,3,320,320]."""
    return UNet328(6).eval()


@torch.no_grad()
def calibrate_output(model, image, audio, mean=0.0, std=1.5):
    """Rescale outc so the logits on (image, audio) have the given mean/std.
    Call after the BatchNorm statistics are final."""
    was_training = model.training
    model.eval()
    z = model.logits(image, audio)
    zm, zs = z.mean(dim=(0, 2, 3)), z.std(dim=(0, 2, 3))        # per output channel
    k = std / zs
    model.outc.conv.weight.mul_(k.view(-1, 1, 1, 1))
    model.outc.conv.bias.copy_((model.outc.conv.bias - zm) * k + mean)
    model.train(was_training)
    return model


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def param_count_ok():
    m = UNet328(6)
    n, e = param_count(m), len(m.state_dict())
    print("unet328: %d parameters (spec %d), %d state-dict entries (spec %d)"
          % (n, EXPECTED_PARAMS, e, EXPECTED_STATE_ENTRIES))
    return n == EXPECTED_PARAMS and e == EXPECTED_STATE_ENTRIES


if __name__ == "__main__":
    assert param_count_ok()
    torch.manual_seed(0)
    m = build()
    img, aud = torch.rand(2, 6, 320, 320), torch.relu(torch.randn(2, 32, 16, 16))
    with torch.no_grad():
        z = m.logits(img, aud)
        print("logits mean %.3f std %.3f" % (z.mean(), z.std()))
        calibrate_output(m, img, aud)
        y = m(img, aud)
    print(tuple(y.shape), "out mean %.3f std %.3f" % (y.mean(), y.std()))
