"""Per-channel pixel means and standard deviations of the reference (docs/data.md)."""

MEANS = {
    'activitynet': (114.7748, 107.7354, 99.4750),
    'kinetics': (110.63666788, 103.16065604, 96.29023126),
}
STD = (38.7568578, 37.88248729, 40.02898126)


def get_mean(norm_value=255, dataset='activitynet'):
    if dataset not in MEANS:
        raise ValueError(f'no mean for dataset {dataset!r}: choose from {", ".join(MEANS)}')
    return [m / norm_value for m in MEANS[dataset]]


def get_std(norm_value=255):
    return [s / norm_value for s in STD]
