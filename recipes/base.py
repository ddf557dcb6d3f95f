"""What a recipe is: the interface every release this program reproduces implements, and
the value of the pass main.py runs after the epochs.

Everything that differs between releases is asked of the recipe object: its options and
their defaults, what a clip is (normalisation included), the annotation layouts, the
pipelines and clip windows, the model's build fields, fine-tuning, the checkpoint layout
and which checkpoints it wrote, the scheduler, the pass after the epochs, and inference.py's
transform and windows. A method marked abstract must be given; the registry refuses a
recipe that leaves one out (recipes/__init__.py).
"""
import abc
from dataclasses import dataclass
from typing import Callable

from datasets.factory import DataSource
from models.registry import FAMILIES, ModelSpec


@dataclass(frozen=True)
class FinalPass:
    """What main.py runs once the epochs are done (the CVPR 2018 code's --test, the 2020
    release's --inference): `run(model, runtime, damage)` scores `dataset` into the JSON
    file `path`; an earlier file there is kept under a dated name first."""
    name: str  # the pass, as the damage log names it
    dataset: object
    path: str
    run: Callable


def shared_clip_fields(opt):
    """The ClipSettings fields of the options every recipe shares: the clip's size and
    length and, in main.py (inference.py has no training options), its training crop,
    flip and validation clips."""
    fields = {'size': opt.sample_size, 'duration': opt.sample_duration}
    if hasattr(opt, 'train_crop'):
        fields.update(train_crop=opt.train_crop, hflip=not opt.no_hflip,
                      fast_resize=opt.fast_training_clips, n_val_samples=opt.n_val_samples)
    return fields


def preprocessing_record(clips, resize_to, crop_position, divide_by, multiply_by, windows):
    """A clip's preprocessing as export.py records it: every frame's shorter side resized to
    `resize_to` (PIL's bilinear filter; the longer side to int(resize_to * long / short)),
    the clip's size x size square cropped at `crop_position` (c: left = round((w - size) /
    2), top likewise; tl, tr, bl, br: at that corner; None: no crop), values 0-255 divided
    by `divide_by`, times `multiply_by`, less the mean, divided by the std per RGB channel,
    as [batch, 3, frames, size, size] float32; `windows` says where clips start."""
    return {'frames': clips.duration, 'size': clips.size, 'resize_shorter_side_to': resize_to,
            'crop_position': crop_position, 'divide_by': divide_by,
            'multiply_by': multiply_by, 'mean': list(clips.mean), 'std': list(clips.std),
            'channels': 'RGB', 'layout': 'batch, channels, frames, height, width',
            'windows': windows}


class Recipe(abc.ABC):
    """One release's way of preparing clips, building networks, training and saving."""
    name: str  # what --recipe takes
    title: str  # how messages name the release
    pipeline: str  # what its models expect of their input, in a few words
    options: tuple = ()  # its own Options (argtypes.Option); one with a shared flag
    #                      replaces the shared one (its default, choices and help)
    defaults: dict = {}  # its defaults of the shared options
    families: tuple = tuple(FAMILIES)  # the --model choices it builds
    saves_epoch_done: bool = False  # checkpoints: 'epoch' is the epoch done (else the next)
    fine_tuning_flag: str  # the option that picks what fine-tuning trains

    # -- the command line -------------------------------------------------------------------

    @abc.abstractmethod
    def layout(self, dataset):
        """The annotation layout it reads for --dataset `dataset`, or None where it reads
        none (the name is then no --dataset choice of this recipe)."""

    @abc.abstractmethod
    def mean_std(self, opt):
        """The mean and std of --mean_dataset, on the values as this recipe scales them,
        before --no_mean_norm and the like apply (recorded as `mean` and `std`)."""

    def derived_options(self, opt):
        """{name: value} derived from the options and recorded with them (opts.json);
        raises argtypes.OptionError for values that cannot run."""
        return {}

    def check(self, opt):
        """A one-line usage error for options that parse but cannot run together, or None."""
        return None

    def notes(self, opt):
        """Lines for options that change nothing here, said before the run."""
        return []

    # -- what a run is ----------------------------------------------------------------------

    @abc.abstractmethod
    def clip_settings(self, opt):
        """The run's clip_settings.ClipSettings, normalisation decided."""

    def data_source(self, opt):
        return DataSource(opt.dataset, opt.video_path, opt.annotation_path, opt.input_format)

    def model_spec(self, opt):
        """The ModelSpec of the network as built (before a fine-tuned classifier)."""
        return ModelSpec.from_options(opt, **self.model_fields(opt))

    def model_fields(self, opt):
        """The ModelSpec fields this recipe decides beyond the shared model options."""
        return {}

    @abc.abstractmethod
    def fine_tuning(self, opt):
        """The models.factory.FineTuning of --pretrain_path, or None without one."""

    @abc.abstractmethod
    def fine_tuning_flags(self, path, n_pretrained, n_classes):
        """The flags that fine-tune the model at `path` (of `n_pretrained` classes) on data
        of `n_classes`, as a command line gives them."""

    # -- checkpoints ------------------------------------------------------------------------

    def claims(self, checkpoint):
        """Whether a checkpoint that records no recipe was written by this release's own
        code (its layout or names tell)."""
        return False

    def next_epoch(self, checkpoint):
        """The epoch a checkpoint in this recipe's layout continues at (None if it does not
        say)."""
        epoch = checkpoint.get('epoch')
        return epoch + 1 if epoch is not None and self.saves_epoch_done else epoch

    @abc.abstractmethod
    def begin_epoch(self, opt, next_epoch):
        """The first epoch of the run; `next_epoch`: the resumed checkpoint's (None when not
        resuming or when it does not say)."""

    # -- training and validation ------------------------------------------------------------

    @abc.abstractmethod
    def training_set(self, source, clips, skip_damaged=False):
        """The training VideoDataset with its transforms."""

    @abc.abstractmethod
    def validation_set(self, source, clips, skip_damaged=False):
        """The validation VideoDataset with its transforms and clip placement."""

    def validation_batch_size(self, opt):
        return opt.batch_size

    @abc.abstractmethod
    def make_scheduler(self, opt, optimizer):
        """The learning-rate scheduler (main.py steps a plateau one on the validation loss,
        another every epoch)."""

    def restore_schedule(self, opt, checkpoint, scheduler):
        """What resuming changes in a scheduler beyond its saved state."""

    # -- after the epochs -------------------------------------------------------------------

    @abc.abstractmethod
    def final_pass(self, opt, source, clips, n_outputs):
        """The FinalPass the options ask for, or None; `n_outputs`: the model's classes."""

    # -- inference.py -----------------------------------------------------------------------

    @abc.abstractmethod
    def inference_transform(self, clips):
        """inference.py's spatial transform of a clip's frames."""

    @abc.abstractmethod
    def preprocessing(self, clips):
        """What inference's transform does to a clip, in plain values (export.py writes it
        into a model file's metadata): see `preprocessing_record`."""

    @abc.abstractmethod
    def windows(self, n_frames, duration, stride):
        """inference.py's windows over a video of `n_frames`: [(first, last)] frame
        numbers, from 1."""
