"""What a checkpoint tells of its network by itself, as the option values that build it:
the family and depth its `arch` names, its classes (the classifier's rows), ResNet's
shortcut (downsample weights or none), the first convolution's temporal kernel, ResNeXt's
cardinality, WideResNet's width, the 2020 release's widen factor. A published checkpoint
records nothing else; these let a run apply it without flags that repeat the file.
"""
from models.checkpoint import normalise_keys
from models.registry import FAMILIES

RESNET_LIKE = ('resnet', 'preresnet', 'wideresnet', 'resnext', 'resnet2p1d')


def network_options(checkpoint):
    """{option name: value} of what `checkpoint`'s arch and weights show; an option they
    do not show is left out."""
    state = normalise_keys(checkpoint['state_dict'])
    told = {}
    family, _, depth = str(checkpoint.get('arch', '')).rpartition('-')
    if family in FAMILIES and depth.isdigit() and int(depth) in FAMILIES[family].DEPTHS:
        told.update(model=family, model_depth=int(depth))
    head = state.get('fc.weight', state.get('classifier.weight'))
    if head is not None and head.dim() == 2:
        told['n_classes'] = int(head.shape[0])
    family = told.get('model')
    if family in RESNET_LIKE:
        told['resnet_shortcut'] = 'B' if any('.downsample.' in k for k in state) else 'A'
        stem = state.get('conv1_t.weight' if family == 'resnet2p1d' else 'conv1.weight')
        if stem is not None and stem.dim() == 5:
            told['conv1_t_size'] = int(stem.shape[2])
            if family in ('resnet', 'resnet2p1d'):
                told['resnet_widen_factor'] = stem.shape[0] / 64
    inner = state.get('layer1.0.conv2.weight')
    if family == 'resnext' and inner is not None and inner.dim() == 5:
        told['resnext_cardinality'] = int(inner.shape[0] // inner.shape[1])
    first = state.get('layer1.0.conv1.weight')
    if family == 'wideresnet' and first is not None and first.shape[0] % 64 == 0:
        told['wide_resnet_k'] = int(first.shape[0] // 64)
    return told
