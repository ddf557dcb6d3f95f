"""Exit 0 if every package a requirements file names is installed (at the version it pins,
where it pins one), 1 otherwise, naming what is missing: `make install` calls pip only then.

    python utils_scripts/requirements_met.py requirements.txt
"""
import argparse
import re
import sys
from importlib import metadata

REQUIREMENT = re.compile(r'^([A-Za-z0-9_.\-]+)\s*(?:==\s*([^\s;#]+))?\s*(?:[;#].*)?$')


def unmet(lines):
    """The requirements among `lines` that the installed packages do not satisfy."""
    missing = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        match = REQUIREMENT.match(line)
        if not match:  # a specifier this check does not read: let pip decide
            missing.append(line)
            continue
        name, pinned = match.groups()
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        # A local build tag (+cu130) does not change the release.
        if pinned and installed.split('+')[0] != pinned.split('+')[0]:
            missing.append(f'{line} (installed: {installed})')
    return missing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('requirements', help='a requirements file (requirements.txt)')
    args = parser.parse_args(argv)
    try:
        with open(args.requirements, encoding='utf-8') as f:
            missing = unmet(f)
    except OSError as e:
        print(f'error: cannot read {args.requirements}: {e.strerror}', file=sys.stderr)
        return 2
    if missing:
        print('to install: ' + ', '.join(missing))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
