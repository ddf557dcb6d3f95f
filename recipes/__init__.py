"""The releases of the reference this program reproduces, by the name --recipe takes.

A recipe is one file here and one line in RECIPES: the options only it has (`OWN_OPTIONS`),
the model families it builds as its release did (`FAMILIES`), and what it decides from the
options: the clips' normalisation, inference's transform and windows, the model's build
options. The default, cvpr2018, is the CVPR 2018 code; 2020 is the release that cloning the
reference gives today (docs/recipes.md).
"""
from recipes import cvpr2018, release2020

RECIPES = {'cvpr2018': cvpr2018, '2020': release2020}
DEFAULT = 'cvpr2018'


def recipe_name(opt):
    return getattr(opt, 'recipe', None) or DEFAULT


def recipe_of(opt):
    return RECIPES[recipe_name(opt)]


def misplaced_flag(opt, explicit):
    """A one-line error for the first explicit option (or --model choice) that belongs to
    another recipe than the run's, or None."""
    name = recipe_name(opt)
    implied = '' if getattr(opt, 'recipe', None) else ' (the default)'
    for option in explicit:
        for other, recipe in RECIPES.items():
            if other != name and option in recipe.OWN_OPTIONS:
                return (f'argument --{option}: a flag of --recipe {other}, and this run is '
                        f'--recipe {name}{implied}: add --recipe {other}, or leave it out')
    for other, recipe in RECIPES.items():
        if other != name and opt.model in recipe.OWN_FAMILIES:
            return (f'argument --model: {opt.model} is a model of --recipe {other}, and this '
                    f'run is --recipe {name}{implied}: add --recipe {other}')
    return None
