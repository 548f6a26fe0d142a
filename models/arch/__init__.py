"""Model architectures written from the specs in ../shared/models/.

Each module exposes ``build(**kw) -> torch.nn.Module`` in eval mode, with
weights drawn from the global torch RNG (the caller sets torch.manual_seed):

    mobilenetv4  MobileNetV4-Conv-Small (timm mobilenetv4_conv_small)
    udnet        UDnet, inference (prior) path, dynamic H and W
    dinov2       DINOv2 ViT-S/14 and ViT-B/14 backbones
    unet328      2-input lip-sync UNet (SyncTalk_2D unet_328, audio mode 'ave')

Modules are imported lazily through ``load`` so that a missing or broken
architecture only affects the models that need it.
"""
import importlib
import os

ARCHS = ("mobilenetv4", "udnet", "dinov2", "unet328")


class MissingArch(ImportError):
    """The architecture's source file does not exist (yet)."""


def path_of(name):
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")


def load(name):
    """Import models/arch/NAME.py; MissingArch names the file when it is absent."""
    if not os.path.exists(path_of(name)):
        raise MissingArch("models/arch/%s.py does not exist" % name)
    return importlib.import_module(__name__ + "." + name)


def build(name, **kw):
    return load(name).build(**kw)
