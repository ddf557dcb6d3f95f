"""Convert a checkpoint that needs arbitrary code to unpickle into a safe one.

main.py loads checkpoints with `weights_only=True` and refuses files that need more. Run this
once on a file whose origin you trust: it unpickles it fully (executing what the file says)
and writes FILE.safe.pth with only tensors, numbers, strings and containers, which main.py
then loads without executing anything.

    python utils_scripts/trust_checkpoint.py resnet-34-kinetics.pth
"""
import argparse
import os
import sys

import torch

SAFE_SCALARS = (int, float, bool, str, bytes, type(None), torch.Tensor, torch.Size)


def plain(obj):
    """Keep what weights_only loading accepts; drop the rest."""
    if isinstance(obj, SAFE_SCALARS):
        return obj
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if plain(v) is not DROP}
    if isinstance(obj, (list, tuple)):
        kept = [plain(v) for v in obj]
        return type(obj)(v for v in kept if v is not DROP)
    return DROP


DROP = object()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('path', help='checkpoint you trust')
    parser.add_argument('--output', help='where to write (default: PATH.safe.pth)')
    args = parser.parse_args(argv)
    if not os.path.isfile(args.path):
        sys.exit(f'error: no such file: {args.path}')
    try:
        checkpoint = torch.load(args.path, map_location='cpu', weights_only=False)
    except Exception as e:  # the unpickler fails on other files in many ways
        sys.exit(f'error: {args.path} is not a PyTorch checkpoint '
                 f'({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""})')
    if not isinstance(checkpoint, dict):
        sys.exit(f'error: {args.path} does not hold a dict')
    output = args.output or os.path.splitext(args.path)[0] + '.safe.pth'
    torch.save(plain(checkpoint), output)
    print(f'wrote {output}')


if __name__ == '__main__':
    main()
