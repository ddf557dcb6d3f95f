"""Plot the training curves of a result folder: loss and accuracy per epoch, training and
validation, from train.log and val.log, as a PNG (needs matplotlib).

    python utils_scripts/plot_curves.py RESULT_PATH [--output curves.png]
"""
import argparse
import csv
import os
import sys


def read_log(path):
    """{column: [values]} of a tab-separated log; the last row wins for a repeated epoch."""
    if not os.path.exists(path):
        return None
    with open(path, newline='') as f:
        rows = {int(row['epoch']): row for row in csv.DictReader(f, delimiter='\t')}
    epochs = sorted(rows)
    return {'epoch': epochs, 'loss': [float(rows[e]['loss']) for e in epochs],
            'acc': [float(rows[e]['acc']) for e in epochs]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('result_path')
    parser.add_argument('--output', help='PNG to write (default: RESULT_PATH/curves.png)')
    args = parser.parse_args(argv)
    logs = {name: read_log(os.path.join(args.result_path, f'{name}.log'))
            for name in ('train', 'val')}
    if not any(logs.values()):
        sys.exit(f'error: no train.log or val.log in {args.result_path}')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        sys.exit('error: plotting needs matplotlib: pip install matplotlib')
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, log in logs.items():
        if log:
            axes[0].plot(log['epoch'], log['loss'], marker='.', label=name)
            axes[1].plot(log['epoch'], log['acc'], marker='.', label=name)
    for ax, title in zip(axes, ('loss', 'accuracy (clips)')):
        ax.set_title(title)
        ax.set_xlabel('epoch')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_ylim(0, 1)
    fig.suptitle(os.path.abspath(args.result_path), fontsize=9)
    fig.tight_layout()
    output = args.output or os.path.join(args.result_path, 'curves.png')
    fig.savefig(output, dpi=100)
    print(f'training curves: {output}')


if __name__ == '__main__':
    main()
