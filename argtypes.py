"""The pieces every option table is made of: argparse value types, the `Option` record and
the parser that reports a usage error in one line. Imports nothing of the project, so that
the option tables of models/, recipes/ and opts.py can all use it."""
import argparse
from dataclasses import dataclass, field

# The programs an option belongs to: main.py, inference.py, export.py; those that run a
# model (BOTH), and those that build one and describe its clips (APPLIED).
MAIN, INFERENCE, EXPORT = 'main', 'inference', 'export'
BOTH = (MAIN, INFERENCE)
APPLIED = (MAIN, INFERENCE, EXPORT)


class OptionError(ValueError):
    """An option value that parses but cannot run; the message reads as argparse's own
    ('argument --x: ...')."""


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def positive_float(text):
    value = float(text)
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text}')
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def unit_fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'must lie in (0, 1], got {text}')
    return value


@dataclass(frozen=True)
class Option:
    """One command-line option: its flags and argparse keywords, the --help group it shows
    in, the programs that take it, whether checkpoints record it (the options that make a
    model and its clips: inference.py then needs no flag for them) and, for the model
    options every family shares, the ModelSpec field it sets."""
    flags: tuple
    group: str
    kwargs: dict = field(compare=False)
    programs: tuple = (MAIN,)
    recorded: bool = False
    spec_field: str | None = None

    @property
    def dest(self):
        return self.kwargs.get('dest') or self.flags[0].lstrip('-')

    def add_to(self, group, with_default=True, **overrides):
        """Add the option to an argparse group; without its default (`with_default`
        False) the parsed namespace holds only the options a command line gives."""
        kwargs = dict(self.kwargs, **overrides)
        if not with_default:
            kwargs['default'] = argparse.SUPPRESS
        group.add_argument(*self.flags, **kwargs)


def option(*flags, group, programs=(MAIN,), recorded=False, spec_field=None, **kwargs):
    """An Option: option('--sample_size', group='clips', default=112, type=positive_int)."""
    return Option(flags, group, kwargs, tuple(programs), recorded, spec_field)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help texts, but for options whose default is nothing (None, '')."""

    def _get_help_string(self, action):
        if action.default is None or action.default == '':
            return action.help
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """Report a usage error in one line instead of the whole usage text. `explain`, when
    set, may replace argparse's message by a better one (it returns None to keep it)."""
    explain = None

    def error(self, message):
        better = self.explain(message) if self.explain else None
        self.exit(2, f'{self.prog}: error: {better or message} (see --help)\n')
