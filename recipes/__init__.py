"""The releases of the reference this program reproduces, by the name --recipe takes.

A recipe is one file here (a `recipes.base.Recipe`) and one line in the registry below;
`register` checks that it implements the interface and that its name and options do not
clash. The default, cvpr2018, is the CVPR 2018 code; 2020 is the release that cloning the
reference gives today (docs/recipes.md). Which recipe wrote a checkpoint is decided here too,
and what a run of another recipe says of it.
"""
import sys

from models.checkpoint import written_here
from recipes import cvpr2018, release2020
from recipes.base import Recipe

RECIPES = {}
DEFAULT = 'cvpr2018'


def register(recipe):
    """Add a recipe to the registry, after checking what it declares (a Recipe that leaves
    out one of the interface's methods cannot be made at all); returns it."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f'{recipe!r} is not a recipes.base.Recipe')
    for attribute in ('name', 'title', 'pipeline', 'fine_tuning_flag'):
        if not isinstance(getattr(recipe, attribute, None), str):
            raise TypeError(f'recipe {type(recipe).__name__} has no {attribute} (a str)')
    if recipe.name in RECIPES:
        raise ValueError(f'a recipe named {recipe.name!r} is registered already')
    flags = [flag for option in recipe.options for flag in option.flags]
    if len(flags) != len(set(flags)):
        raise ValueError(f'recipe {recipe.name!r} declares a flag twice')
    RECIPES[recipe.name] = recipe
    return recipe


register(cvpr2018.RECIPE)
register(release2020.RECIPE)


def recipe_of(opt):
    """The recipe of parsed options (the default where --recipe is not given)."""
    return RECIPES[getattr(opt, 'recipe', None) or DEFAULT]


def given(opt):
    """Whether the command line names its recipe (not left to the default)."""
    return bool(getattr(opt, 'recipe', None))


# -- which recipe wrote a checkpoint -----------------------------------------------------

def checkpoint_recipe(checkpoint):
    """The recipe whose pipeline a checkpoint's model expects: the one it records (this
    program's checkpoints do), else the first whose release's own code wrote it (the
    recipes' `claims`); None where nothing tells."""
    if written_here(checkpoint):
        return recorded_recipe(checkpoint)
    return next((r for r in RECIPES.values() if r.claims(checkpoint)), None)


def recorded_recipe(checkpoint):
    """The recipe a checkpoint this program wrote records; None for any other."""
    if not written_here(checkpoint):
        return None
    return RECIPES.get((checkpoint.get('settings') or {}).get('recipe'))


def say_if_another_recipe(checkpoint, path, recipe, quiet=False):
    """A run of `recipe` given a checkpoint (or an exported model's settings, as
    {'settings': ...}) of another recipe, which --recipe asked for: run as asked, said once
    (unless `quiet`). (Without --recipe, a run takes the checkpoint's: opts.for_checkpoint.)"""
    origin = checkpoint_recipe(checkpoint)
    if origin is None or origin is recipe or quiet:
        return
    what = (f'{path} was trained under --recipe {origin.name}' if written_here(checkpoint)
            else f'{path} was written by {origin.title}') + \
        f' (arch {checkpoint.get("arch", "unknown")})'
    print(f'note: {what}; --recipe {recipe.name} runs it through that recipe\'s pipeline, '
          'as asked', file=sys.stderr)


def next_epoch(checkpoint, recipe):
    """The epoch a checkpoint continues at, read in the layout of the recipe that wrote it
    (the run's `recipe` where nothing tells)."""
    return (checkpoint_recipe(checkpoint) or recipe).next_epoch(checkpoint)
