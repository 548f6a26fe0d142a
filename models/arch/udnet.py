"""UDnet, inference (prior) path only, written from ../shared/models/UDnet.md.

Attribute names follow the upstream ``Decoder`` (``pr_encoder``, ``pr_conv``,
``pr_UpConv{3,2,1}``, ``out_conv``, ``compute_z_pr``, ``conv_u``, ``conv_s``,
``insnorm``) and the sequential indices of its building blocks, so the
inference subset of an upstream checkpoint (keys ``decoder.*`` minus the
prefix) loads with ``load_state_dict``.

Details that matter for numeric parity (spec section 2/3/6):
- ReflectionPad2d(1) before every 3x3 conv (pad excludes the edge pixel);
- LeakyReLU slope 0.01; SE reduction 16; no activation after residual adds;
- Up: bilinear, scale 2, align_corners=True;
- Compute_z: mean over H then W; std = *nested unbiased* std (over H, then
  over W of that), not the std over all pixels;
- latent = mu + sigma * 0 (kept literally, so Exp -> Mul -> Add is exported);
- AdaIN: InstanceNorm2d(128) (affine=False, eps 1e-5) * |ps| + pu;
- no sigmoid and no clamp on the output.
"""
import torch
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, 1, 0), nn.LeakyReLU(0.01),
            nn.ReflectionPad2d(1), nn.Conv2d(cout, cout, 3, 1, 0), nn.LeakyReLU(0.01))

    def forward(self, x):
        return self.conv(x)


class SELayer(nn.Module):
    def __init__(self, c, reduction=16):
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_double = nn.Sequential(
            nn.Conv2d(c, c // reduction, 1, 1, 0), nn.LeakyReLU(0.01),
            nn.Conv2d(c // reduction, c, 1, 1, 0), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_double(self.global_pool(x))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, 1, 0), nn.LeakyReLU(0.01),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, 1, 0), SELayer(c))

    def forward(self, x):
        return x + self.body(x)


class Up(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)

    def forward(self, x):
        return self.up(x)


class Encoder(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv1 = ConvBlock(cin, 64)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = ConvBlock(64, 64)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.conv3 = ConvBlock(64, 64)
        self.pool3 = nn.MaxPool2d(2, 2)
        self.conv4 = ResBlock(64)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(self.pool1(x1))
        x3 = self.conv3(self.pool2(x2))
        x4 = self.conv4(self.pool3(x3))
        return x1, x2, x3, x4


class ComputeZ(nn.Module):
    def __init__(self, latent=20, cin=128):
        super().__init__()
        self.latent = latent
        self.u_conv_layer = nn.Conv2d(cin, 2 * latent, 1, 1, 0)
        self.s_conv_layer = nn.Conv2d(cin, 2 * latent, 1, 1, 0)

    def forward(self, d):
        u_enc = d.mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
        # nested unbiased std: over H first, then over W of the result
        s_enc = d.std(dim=2, keepdim=True, unbiased=True).std(dim=3, keepdim=True, unbiased=True)
        u = self.u_conv_layer(u_enc).flatten(1)   # [B,40,1,1] -> [B,40]
        s = self.s_conv_layer(s_enc).flatten(1)
        n = self.latent
        u_mu, u_log_sigma = u[:, :n], u[:, n:]
        s_mu, s_log_sigma = s[:, :n], s[:, n:]
        return u_mu, s_mu, torch.exp(u_log_sigma), torch.exp(s_log_sigma)


class UDnetInference(nn.Module):
    def __init__(self, latent=20):
        super().__init__()
        self.latent = latent
        self.pr_encoder = Encoder(3)
        self.pr_conv = ResBlock(64)
        self.pr_Up3 = Up()
        self.pr_UpConv3 = ConvBlock(128, 64)
        self.pr_Up2 = Up()
        self.pr_UpConv2 = ConvBlock(128, 64)
        self.pr_Up1 = Up()
        self.pr_UpConv1 = ConvBlock(128, 64)
        self.out_conv = nn.Sequential(ResBlock(64), ResBlock(64), nn.Conv2d(64, 3, 1, 1, 0))
        self.compute_z_pr = ComputeZ(latent, 128)
        self.conv_u = nn.Conv2d(latent, 128, 1, 1, 0)
        self.conv_s = nn.Conv2d(latent, 128, 1, 1, 0)
        self.insnorm = nn.InstanceNorm2d(128)  # affine=False, no running stats, eps 1e-5

    def forward(self, x):
        x1, x2, x3, x4 = self.pr_encoder(x)
        t = self.pr_conv(x4)
        t = self.pr_UpConv3(torch.cat((x3, self.pr_Up3(t)), dim=1))
        t = self.pr_UpConv2(torch.cat((x2, self.pr_Up2(t)), dim=1))
        d = torch.cat((x1, self.pr_Up1(t)), dim=1)
        u_mu, s_mu, u_sigma, s_sigma = self.compute_z_pr(d)
        # upstream: z = mean + sigma * 0 (no sampling at inference)
        zu = (u_mu + u_sigma * 0).unsqueeze(-1).unsqueeze(-1)
        zs = (s_mu + s_sigma * 0).unsqueeze(-1).unsqueeze(-1)
        pu = self.conv_u(zu)
        ps = self.conv_s(zs)
        d = self.insnorm(d) * torch.abs(ps) + pu
        t = self.pr_UpConv1(d)
        return self.out_conv(t)


def build(latent=20, **kw):
    """UDnet inference path in eval mode (weights from the caller's seed)."""
    if kw:
        raise TypeError("udnet.build: unexpected arguments %s" % sorted(kw))
    return UDnetInference(latent=latent).eval()
