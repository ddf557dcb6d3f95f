"""Video-level accuracy on hmdb51.

    python utils_scripts/eval_hmdb51.py ANNOTATION_JSON RESULT_JSON [--subset validation] [--top_k 1]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluation import main  # noqa: E402

if __name__ == '__main__':
    main('hmdb51')
