"""Write `n_frames` into every video folder of DIR/<class>/<video>.

    python utils_scripts/n_frames_kinetics.py DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from n_frames import main  # noqa: E402

if __name__ == '__main__':
    main()
