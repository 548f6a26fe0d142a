"""DINOv2 ViT-S/14 and ViT-B/14 backbones (no registers), for the onyx model zoo.

Written from the project's specification /work/shared/models/DINOv2.md (our own code;
nothing is copied from upstream).  State-dict keys and shapes match the hub
checkpoints `dinov2_vits14` / `dinov2_vitb14` (block_chunks=0), so real weights load
with `model.load_state_dict(sd)`.

    model = build("vits14")                        # forward(x) -> cls [B, D]
    model = build("vitb14", return_patch_tokens=True)  # -> (cls [B,D], patch [B,h*w,D])

Input: float32 [B, 3, H, W], H and W multiples of 14 (ImageNet-normalised RGB).

Export notes (torch 1.13, opset 17):
  * attention is written as MatMul -> Softmax -> MatMul (no SDPA / xFormers);
  * default (dynamic_hw=False, the spec layout): the position-embedding
    interpolation is decided in Python from the traced H/W and its Resize scales are
    baked in as constants, so an exported graph is valid for ONE H x W only (only
    the batch axis can be dynamic).  Export one file per input size (224 and 518).
  * build(..., dynamic_hw=True): the interpolation goes through a custom ONNX
    symbolic (Shape -> Slice -> Div(14) -> Cast -> +0.1 -> /37 -> Where -> Concat ->
    Resize scales), so one file serves any H, W that are multiples of 14.  The
    "no interpolation at 37x37" case becomes Resize with scale 1.0, an exact copy
    for cubic/half_pixel, so no `If` node is needed.  Eager results are identical to
    the default model.  This graph is NOT the one the spec's op tables describe.

Weights are randomised deterministically from the global torch RNG (the caller sets
torch.manual_seed):  Conv and biases get PyTorch's default init, Linear weights
N(0, 1/fan_in), LayerScale gammas U(0.05, 0.5), LayerNorm affine params are perturbed
around (1, 0) (U(0.8, 1.2) / U(-0.1, 0.1)), pos_embed and the class token are
N(0, 0.2^2), so every part of the graph influences the outputs.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = {
    # name: (embed dim, depth, heads, expected parameter count)
    "vits14": (384, 12, 6, 22_056_576),
    "vitb14": (768, 12, 12, 86_580_480),
}

PATCH = 14
GRID = 37                 # stored pos-embed grid (518 / 14)
INTERP_OFFSET = 0.1       # interpolate_offset of the hub models
LN_EPS = 1e-6


class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH, padding=0, bias=True)

    def forward(self, x):
        x = self.proj(x)                       # [B, D, h, w]
        return x.flatten(2).transpose(1, 2)    # [B, h*w, D], row-major patches


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x):
        B, N, C = x.shape
        # qkv output rows: [q | k | v], each split into heads of 64 contiguous rows
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)       # [3, B, heads, N, 64]
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        a = q @ k.transpose(-2, -1)            # [B, heads, N, N]
        a = a.softmax(dim=-1)
        x = (a @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class LayerScale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=True)
        self.act = nn.GELU()                   # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, dim, bias=True)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


# ----------------------------------------------------------------------------------
# Optional run-time (dynamic H/W) position-embedding interpolation for ONNX export.
# ----------------------------------------------------------------------------------

def _interp_grid(grid, h0, w0):
    """grid [1, D, 37, 37] -> [1, D, h0, w0] by the upstream rule (scale = (n+0.1)/37)."""
    return F.interpolate(
        grid,
        # float(): under tracing h0/w0 are tensors; this bakes the scale into the graph
        scale_factor=(float(h0 + INTERP_OFFSET) / GRID, float(w0 + INTERP_OFFSET) / GRID),
        mode="bicubic",
        align_corners=False,
    )


class _DynamicPosGrid(torch.autograd.Function):
    """Eager: the upstream rule (identity at 37x37, else bicubic with scale (n+0.1)/37).
    ONNX: one Resize whose scales are computed from Shape(x) at run time.  The
    no-interpolation case is expressed as scale 1.0 (Where), which makes the cubic
    Resize an exact copy (Keys weights at integer offsets are 1, 0, 0, 0), so no `If`
    node is needed."""

    @staticmethod
    def forward(ctx, grid, x):
        h0, w0 = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        if h0 * w0 == GRID * GRID and h0 == w0:
            return grid.clone()
        return _interp_grid(grid, h0, w0)

    @staticmethod
    def symbolic(g, grid, x):
        from torch.onnx import symbolic_helper as sh

        def i64(v):
            return g.op("Constant", value_t=torch.tensor(v, dtype=torch.int64))

        def f32(v):
            return g.op("Constant", value_t=torch.tensor(v, dtype=torch.float32))

        shape = g.op("Shape", x)
        hw = g.op("Slice", shape, i64([2]), i64([4]), i64([0]))     # [H, W]
        n = g.op("Div", hw, i64([PATCH, PATCH]))                    # [h0, w0]
        # 37*37 patches and H == W  <=>  h0 == w0 == 37
        same = g.op("Equal", n, i64([GRID, GRID]))
        same = g.op("Cast", g.op("ReduceMin", g.op("Cast", same, to_i=7), keepdims_i=0), to_i=9)
        sc = g.op("Div", g.op("Add", g.op("Cast", n, to_i=1), f32([INTERP_OFFSET] * 2)),
                  f32([float(GRID)]))
        sc = g.op("Where", same, f32([1.0, 1.0]), sc)
        scales = g.op("Concat", f32([1.0, 1.0]), sc, axis_i=0)
        return g.op("Resize", grid, sh._optional_input_placeholder_tensor(g), scales,
                    mode_s="cubic", coordinate_transformation_mode_s="half_pixel",
                    cubic_coeff_a_f=-0.75, exclude_outside_i=0, nearest_mode_s="floor")


class DinoV2(nn.Module):
    def __init__(self, variant="vits14", return_patch_tokens=False, dynamic_hw=False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError("variant must be one of %s" % sorted(VARIANTS))
        dim, depth, heads, _ = VARIANTS[variant]
        self.variant = variant
        self.embed_dim = dim
        self.return_patch_tokens = return_patch_tokens
        self.dynamic_hw = dynamic_hw
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + GRID * GRID, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))   # training only; counted
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.head = nn.Identity()
        self._randomise()

    @torch.no_grad()
    def _randomise(self):
        # Conv and all biases keep PyTorch's default init (drawn in __init__).  Linear
        # weights are redrawn N(0, 1/fan_in) (the spec's numerical-check setting): with
        # the default U(+-1/sqrt(fan_in)) the attention logits have std ~0.3 and the
        # softmax is nearly uniform, which would hide attention bugs.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, m.in_features ** -0.5)
        self.cls_token.normal_(0.0, 0.2)
        self.pos_embed.normal_(0.0, 0.2)
        self.mask_token.normal_(0.0, 0.02)
        for m in self.modules():
            if isinstance(m, LayerScale):
                m.gamma.uniform_(0.05, 0.5)
            elif isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)

    def interpolate_pos_encoding(self, x, H, W, img=None):
        """pos_embed resized for an H x W input, as [1, 1 + h0*w0, D].
        x: the tokens [B, 1+h0*w0, D]; img: the input image (needed for dynamic_hw)."""
        npatch = x.shape[1] - 1
        if not self.dynamic_hw and npatch == GRID * GRID and H == W:
            return self.pos_embed
        dtype = x.dtype
        pos = self.pos_embed.float()
        cls_pos = pos[:, 0]
        grid = pos[:, 1:].reshape(1, GRID, GRID, self.embed_dim).permute(0, 3, 1, 2)
        if self.dynamic_hw:
            grid = _DynamicPosGrid.apply(grid, img)
        else:
            grid = _interp_grid(grid, H // PATCH, W // PATCH)
        grid = grid.permute(0, 2, 3, 1).reshape(1, -1, self.embed_dim)
        pos = torch.cat((cls_pos.unsqueeze(0), grid), dim=1)
        # upstream casts back to the input dtype; skip the no-op (it would trace a Cast)
        return pos if dtype == torch.float32 else pos.to(dtype)

    def prepare_tokens(self, x):
        B, _, H, W = x.shape
        if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            assert H % PATCH == 0 and W % PATCH == 0, "H and W must be multiples of 14"
        tok = self.patch_embed(x)
        tok = torch.cat((self.cls_token.expand(tok.shape[0], -1, -1), tok), dim=1)
        return tok + self.interpolate_pos_encoding(tok, H, W, x)

    def forward_features(self, x):
        t = self.prepare_tokens(x)
        for blk in self.blocks:
            t = blk(t)
        tn = self.norm(t)
        return {
            "x_norm_clstoken": tn[:, 0],
            "x_norm_patchtokens": tn[:, 1:],
            "x_prenorm": t,
        }

    def forward(self, x):
        f = self.forward_features(x)
        cls = self.head(f["x_norm_clstoken"])
        if self.return_patch_tokens:
            return cls, f["x_norm_patchtokens"]
        return cls


def build(variant="vits14", return_patch_tokens=False, dynamic_hw=False):
    """DINOv2 backbone in eval mode.  forward(x [B,3,H,W]) -> cls [B,D]
    (or (cls [B,D], patch tokens [B,h*w,D]) with return_patch_tokens=True)."""
    return DinoV2(variant, return_patch_tokens, dynamic_hw).eval()


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def param_count_ok():
    ok = True
    for name, (_, _, _, expect) in VARIANTS.items():
        n = param_count(DinoV2(name))
        print("%s: %d parameters (spec %d)%s" % (name, n, expect, "" if n == expect else "  MISMATCH"))
        ok &= n == expect
    return ok


if __name__ == "__main__":
    assert param_count_ok()
    torch.manual_seed(0)
    m = build("vits14", return_patch_tokens=True)
    with torch.no_grad():
        for s in (224, 518):
            c, p = m(torch.randn(2, 3, s, s))
            print(s, tuple(c.shape), tuple(p.shape), "cls std %.3f max %.3f" % (c.std(), c.abs().max()))
