"""Target transforms: what a sample's target is, from its annotation record."""


class Compose:
    """Apply each transform to the record and return the list of results."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, target):
        return [t(target) for t in self.transforms]


class ClassLabel:
    def __call__(self, target):
        return target['label']


class VideoID:
    def __call__(self, target):
        return target['video_id']
