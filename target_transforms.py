"""Target transforms: what a sample's target is, from its annotation record."""


class ClassLabel:
    def __call__(self, target):
        return target['label']


class VideoID:
    def __call__(self, target):
        return target['video_id']
