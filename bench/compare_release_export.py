"""Checkpoints saved by the 2020 release's own code, exported here with --recipe 2020: the
release's model in PyTorch and the ONNX file in onnxruntime on the same batch of 3 clips.

    python bench/compare_release_export.py --release PATH_TO_A_CHECKOUT_OF_ITS_MASTER

For r3d18 and r2p1d18 (700 classes, 112x112x16 clips, random weights): a process that has
only the release's code on its path builds the model with its generate_model, saves it with
its main.py's save_checkpoint (the layout its published files have) and scores the clips;
then export.py writes the .onnx and onnxruntime scores the same clips. Prints the largest
difference per model; exits 1 if one is over 1e-4 of the largest score.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.compare_release_2020 import STANDINS  # noqa: E402

# Run in the release's checkout, with its modules only: the model, its save_checkpoint,
# its scores of the clips.
RELEASE_SIDE = STANDINS + '''import argparse
import torch
import main as release_main
from model import generate_model
model_name, depth, checkpoint, clips_path, scores_path = sys.argv[1:6]
opt = argparse.Namespace(model=model_name, model_depth=int(depth), n_classes=700,
                         n_input_channels=3, resnet_shortcut='B', conv1_t_size=7,
                         conv1_t_stride=1, no_max_pool=False, resnet_widen_factor=1.0)
torch.manual_seed(0)
model = generate_model(opt)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [50, 100, 150])
release_main.save_checkpoint(checkpoint, 200, f'{model_name}-{depth}', model, optimizer,
                             scheduler)
with torch.no_grad():
    torch.save(model.eval()(torch.load(clips_path)), scores_path)
'''
MODELS = (('resnet', 18), ('resnet2p1d', 18))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--release', required=True, help='a checkout of the release (master)')
    args = parser.parse_args()
    import export
    from models import exported
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        side = os.path.join(folder, 'release_side.py')
        with open(side, 'w') as f:
            f.write(RELEASE_SIDE)
        clips_path = os.path.join(folder, 'clips.pt')
        clips = torch.randn(3, 3, 16, 112, 112, generator=torch.Generator().manual_seed(1))
        torch.save(clips, clips_path)
        for model_name, depth in MODELS:
            checkpoint = os.path.join(folder, f'{model_name}{depth}.pth')
            release_scores = os.path.join(folder, f'{model_name}{depth}_scores.pt')
            done = subprocess.run([sys.executable, side, model_name, str(depth), checkpoint,
                                   clips_path, release_scores], cwd=args.release,
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f'the release\'s side failed:\n{done.stderr[-2000:]}')
            onnx_path = os.path.join(folder, f'{model_name}{depth}.onnx')
            try:
                export.main([checkpoint, onnx_path, '--recipe', '2020', '--model', model_name,
                             '--model_depth', str(depth), '--n_classes', '700'])
            except SystemExit as e:
                if e.code:
                    sys.exit(f'export.py failed ({e.code})')
            expected = torch.load(release_scores)
            got = exported.load(onnx_path)(clips)
            scale = max(1.0, float(expected.abs().max()))
            difference = float((got - expected).abs().max())
            failed |= not difference <= 1e-4 * scale
            print(f'{model_name}{depth}: the release\'s model and the .onnx differ by at most '
                  f'{difference:.1e} (largest score {scale:.3g}); same top class for '
                  f'{int((got.argmax(1) == expected.argmax(1)).sum())} of 3 clips')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
