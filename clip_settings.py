"""What a clip is: its size, length, value scaling and normalisation, and how training,
validation and test crop and window it.

Decided once, from the options, by `ClipSettings.from_options` (as `Runtime` decides the
devices), and passed as one frozen value to the transform pipelines, the datasets and
inference; nothing below reads the options.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ClipSettings:
    size: int = 112  # --sample_size: height and width
    duration: int = 16  # --sample_duration: frames
    norm_value: int = 1  # pixel values are divided by it (1: 0-255, 255: 0-1)
    mean: tuple = (0.0, 0.0, 0.0)  # subtracted per channel, on the divided values
    std: tuple = (1.0, 1.0, 1.0)  # divided by per channel
    # training
    train_crop: str = 'corner'  # random, corner or center (multi-scale)
    scales: tuple = (1.0,)
    hflip: bool = True
    fast_resize: bool = False  # --fast_training_clips: PyTorch's uint8 resize, not PIL's
    # validation: this many clips a video (1: the centred one)
    n_val_samples: int = 3
    # test and inference: frames scaled so that the crop is this fraction of the shorter
    # side, then cropped at this position
    test_scale: float = 1.0
    test_crop_position: str = 'c'

    @classmethod
    def from_options(cls, opt):
        """The settings main.py's or inference.py's options give (inference has no training
        options: their defaults stand)."""
        defaults = cls()
        return cls(
            size=opt.sample_size, duration=opt.sample_duration, norm_value=opt.norm_value,
            mean=(0.0, 0.0, 0.0) if opt.no_mean_norm else tuple(opt.mean),
            std=tuple(opt.std) if opt.std_norm else (1.0, 1.0, 1.0),
            train_crop=getattr(opt, 'train_crop', defaults.train_crop),
            scales=tuple(getattr(opt, 'scales', defaults.scales)),
            hflip=not getattr(opt, 'no_hflip', not defaults.hflip),
            fast_resize=getattr(opt, 'fast_training_clips', defaults.fast_resize),
            n_val_samples=getattr(opt, 'n_val_samples', defaults.n_val_samples),
            test_scale=opt.scale_in_test, test_crop_position=opt.crop_position_in_test)

    @property
    def test_frame_size(self):
        """The shorter side frames are scaled to in test and inference."""
        return int(self.size / self.test_scale)
