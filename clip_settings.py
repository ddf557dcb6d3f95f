"""What a clip is: its size, length, value scaling and normalisation, and how training,
validation and test crop and window it.

Decided once a run, from the options, by the run's recipe (`clip_settings(opt)`, with the
normalisation already decided, as `Runtime` decides the devices), and passed as one frozen
value to the transform pipelines, the datasets and inference; nothing below reads the
options.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ClipSettings:
    size: int = 112  # --sample_size: height and width
    duration: int = 16  # --sample_duration: frames
    norm_value: int = 1  # pixel values are divided by it (1: 0-255, 255: 0-1)
    value_scale: float = 1  # then multiplied by it (--recipe 2020's --value_scale)
    mean: tuple = (0.0, 0.0, 0.0)  # subtracted per channel, on the scaled values
    std: tuple = (1.0, 1.0, 1.0)  # divided by per channel
    n_channels: int = 3  # 3 (RGB), or 2: the 2020 release's flow (u, v) of HDF5 files
    # training
    train_crop: str = 'corner'  # random, corner or center (multi-scale)
    scales: tuple = (1.0,)
    hflip: bool = True
    fast_resize: bool = False  # --fast_training_clips: PyTorch's uint8 resize, not PIL's
    train_crop_min_scale: float = 0.25  # --recipe 2020's random crop: its area ...
    train_crop_min_ratio: float = 0.75  # ... and aspect ratio bounds
    train_t_crop: str = 'random'  # --recipe 2020: random or center
    t_stride: int = 1  # --recipe 2020's --sample_t_stride: every t_stride-th frame
    # validation: this many clips a video (1: the centred one)
    n_val_samples: int = 3
    # test and inference: frames scaled so that the crop is this fraction of the shorter
    # side, then cropped at this position
    test_scale: float = 1.0
    test_crop_position: str = 'c'
    # --recipe 2020's --inference: windows every this many (taken) frames; center or nocrop
    inference_stride: int = 16
    inference_crop: str = 'center'

    @property
    def test_frame_size(self):
        """The shorter side frames are scaled to in test and inference."""
        return int(self.size / self.test_scale)
