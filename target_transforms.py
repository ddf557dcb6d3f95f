"""Target transforms: what a sample's target is, from its annotation record."""


class ClassLabel:
    def __call__(self, target):
        return target['label']


class VideoID:
    def __call__(self, target):
        return target['video_id']


class VideoIDAndSegment:
    """(video id, first frame, last frame + 1) of a clip: the 2020 release's inference
    target, whose segments its results name."""

    def __call__(self, target):
        frames = target['frame_indices']
        return target['video_id'], frames[0], frames[-1] + 1
