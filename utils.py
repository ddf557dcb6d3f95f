"""Small shared pieces: the user-facing error, running meters, TSV logs, accuracy."""
import csv
import os


class UserError(Exception):
    """A mistake in the user's input: main prints its one-line message and exits 2."""


def one_line(exc):
    """The message of `exc` on one line.

    A DataLoader worker re-raises its exception with the worker's traceback in the message;
    keep only the original message, its last line.
    """
    text = str(exc).strip()
    if 'Original Traceback' in text:
        last = text.splitlines()[-1]
        text = last.split(': ', 1)[1] if ': ' in last else last
    return ' '.join(text.split('\n'))
