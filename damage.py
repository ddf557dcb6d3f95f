"""Damaged frames met during a run: each clip that holds one is left out of its batch, named
once per video on the console, logged in result_path/bad_frames.log, and counted; past the
bound --max_bad_clips sets for an epoch, the run stops (and can be resumed).

Kinetics-size datasets always hold some damaged data (a frame folder cut short by a full
disk, a truncated JPEG, an n_frames one too high): a run should not die of one bad frame at
hour 40, nor train on for days over a dataset that is really broken.
"""
import os
import sys
from collections import Counter

LOG_NAME = 'bad_frames.log'
LOG_COLUMNS = ('epoch', 'phase', 'video', 'frame', 'reason')


class TooMuchDamage(Exception):
    """More damaged clips in one epoch than --max_bad_clips allows; the message says how
    many, where they are listed, and which videos hold the most."""


class DamageReport:
    """Damaged clips of one rank, reported as they come and counted per epoch and phase.

    `log_folder`: where bad_frames.log is appended to (None: not written). `max_bad_clips`:
    a count when >= 1, a fraction of the phase's clips when below 1, none at all when 0.
    """

    def __init__(self, log_folder, max_bad_clips):
        self.log_path = os.path.join(log_folder, LOG_NAME) if log_folder else None
        self.max_bad_clips = max_bad_clips
        self.warned = set()
        self.start('', '', 0)

    def start(self, epoch, phase, n_clips):
        """A new pass over `n_clips` clips (of all ranks)."""
        self.epoch, self.phase = epoch, phase
        self.limit = self.max_bad_clips if self.max_bad_clips >= 1 \
            else self.max_bad_clips * n_clips
        self.count = 0  # of all ranks, as told by add()
        self.per_video = Counter()  # this rank's

    def record(self, damaged):
        """Log this rank's damaged clips of a batch; warn once per video."""
        for clip in damaged:
            self.per_video[clip.video_dir] += 1
            self.log(clip.video_dir, clip.frame, clip.reason)
            if clip.video_dir not in self.warned:
                self.warned.add(clip.video_dir)
                print(f'warning: left out a clip of {clip.video_dir}: '
                      f'{os.path.basename(clip.frame)} is {clip.reason} (every damaged clip '
                      f'is listed in {self.log_path or LOG_NAME})', file=sys.stderr, flush=True)

    def log(self, video, frame, reason):
        if self.log_path is None:
            return
        fresh = not os.path.exists(self.log_path)
        row = '\t'.join(str(v).replace('\t', ' ').replace('\n', ' ')
                        for v in (self.epoch, self.phase, video, frame, reason))
        with open(self.log_path, 'a') as f:  # appended line by line: nothing is lost
            f.write(('\t'.join(LOG_COLUMNS) + '\n' if fresh else '') + row + '\n')

    def add(self, n):
        """Count `n` more damaged clips (of all ranks, so every rank decides alike); past the
        bound, raise TooMuchDamage."""
        self.count += int(n)
        if self.count > self.limit:
            raise TooMuchDamage(self.summary())

    def summary(self):
        worst = ', '.join(f'{video} ({n})' for video, n in self.per_video.most_common(3))
        return (f'damaged clips in epoch {self.epoch} ({self.phase}): {self.count}, more than '
                f'--max_bad_clips {self.max_bad_clips:g} allows; all are listed in '
                f'{self.log_path or LOG_NAME}' + (f', most in {worst}' if worst else '') +
                '; extract those videos\' frames again or drop them from the annotation file')

    def epoch_note(self):
        """The console's line for a pass that left clips out, or None."""
        if not self.count:
            return None
        return (f'epoch {self.epoch} ({self.phase}): damaged clips left out: {self.count} '
                f'(listed in {self.log_path or LOG_NAME})')
