"""The releases of the reference this program reproduces, by the name --recipe takes.

A recipe is one file here and one line in RECIPES: the options only it has (`OWN_OPTIONS`,
`OWN_DATASETS`, `OWN_FAMILIES`), its defaults of the shared ones (`DEFAULTS`), and what it
decides from the options: the clips' normalisation, the annotation layout, the training and
validation sets with their transforms, inference's transform and windows, the model's build
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
        if other != name and getattr(opt, 'dataset', None) in recipe.OWN_DATASETS:
            return (f'argument --dataset: {opt.dataset} is a dataset of --recipe {other}, and '
                    f'this run is --recipe {name}{implied}: add --recipe {other}')
        if other != name and opt.model in recipe.OWN_FAMILIES:
            return (f'argument --model: {opt.model} is a model of --recipe {other}, and this '
                    f'run is --recipe {name}{implied}: add --recipe {other}')
    return None


def family_note(opt):
    """A line when the run's recipe builds --model as the other release defines it (the
    2020 release cannot build some families: its code raises TypeError), or None."""
    recipe = recipe_of(opt)
    families = getattr(recipe, 'FAMILIES', None)
    if families is not None and opt.model not in families:
        return (f'note: the 2020 release cannot build {opt.model} (its code raises '
                'TypeError); it runs as the CVPR 2018 code defines it, with the 2020 pipeline')
    return None
