"""A recipe is a value with a declared interface, held in one registry: a third one made at
run time runs main.py and inference.py as the one it copies, and the registry refuses one
that leaves part of the interface out."""
import copy
import json

import pytest
import torch

import recipes
from recipes.base import Recipe
from tests.conftest import TINY, data_flags, read_log, run_cli, run_main, ucf_like


@pytest.fixture
def registered(request):
    """A copy of the recipe `request.param` names, registered as 'copy_<name>'."""
    original = recipes.RECIPES[request.param]
    recipe = copy.copy(original)
    recipe.name = f'copy_{original.name}'
    recipes.register(recipe)
    yield original, recipe
    del recipes.RECIPES[recipe.name]


def run_inference(*flags):
    import inference
    try:
        inference.main([str(f) for f in flags])
    except SystemExit as e:
        return e.code
    return 0


@pytest.mark.slow
@pytest.mark.parametrize('registered', ['cvpr2018', '2020'], indirect=True)
def test_a_copied_recipe_trains_validates_tests_and_infers_as_its_original(
        tmp_path, registered, capsys):
    original, copied = registered
    video_path, annotation_path = ucf_like(tmp_path)
    final = ['--test'] if original.name == 'cvpr2018' else ['--inference']
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--n_epochs', 1,
             '--learning_rate', 0.01, *final]
    results = {}
    for recipe in (original, copied):
        results[recipe] = tmp_path / recipe.name
        run_main(*flags, '--recipe', recipe.name, '--result_path', results[recipe])
    a, b = results[original], results[copied]
    for log in ('train.log', 'train_batch.log', 'val.log'):
        assert read_log(a / log) == read_log(b / log), log
    assert (a / 'val.json').read_text() == (b / 'val.json').read_text()
    saved = {r: torch.load(results[r] / 'save_1.pth', weights_only=False) for r in results}
    assert saved[copied]['settings']['recipe'] == copied.name  # what the run recorded
    for key, value in saved[original]['state_dict'].items():
        assert torch.equal(value, saved[copied]['state_dict'][key]), key
    assert saved[original]['epoch'] == saved[copied]['epoch']

    # inference.py under each, from each one's checkpoint: the same scores.
    capsys.readouterr()
    frames = f'{video_path}/a'
    scores = {}
    for recipe in (original, copied):
        out = tmp_path / f'inferred_{recipe.name}'
        code = run_inference(frames, '--output', out, '--resume_path',
                             results[recipe] / 'save_1.pth', '--recipe', recipe.name,
                             '--no_cuda', '--n_threads', 0)
        assert code == 0, capsys.readouterr().err
        scores[recipe] = json.loads((out / 'results.json').read_text())
    assert scores[original] == scores[copied] and scores[original]['results']
    # Without --recipe, the copy's checkpoint runs under the recipe it records, said once.
    code = run_inference(frames, '--output', tmp_path / 'told', '--resume_path',
                         results[copied] / 'save_1.pth', '--no_cuda', '--n_threads', 0)
    err = capsys.readouterr().err
    assert code == 0 and err.count(f'took --recipe {copied.name} ') == 1, err
    assert json.loads((tmp_path / 'told' / 'results.json').read_text()) == scores[copied]


@pytest.mark.parametrize('registered', ['cvpr2018'], indirect=True)
def test_a_registered_recipe_is_a_choice_with_its_options(registered, capsys):
    from opts import parse_opts
    _, copied = registered
    opt = parse_opts(['--recipe', copied.name, '--no_cuda', '--norm_value', 255])
    assert recipes.recipe_of(opt) is copied and opt.norm_value == 255
    assert copied.clip_settings(opt).norm_value == 255
    code, err = run_cli(capsys, '--recipe', copied.name, '--value_scale', 2)
    assert code == 2 and 'a flag of --recipe 2020' in err and f'--recipe {copied.name}' in err


@pytest.mark.slow
@pytest.mark.parametrize('trained, resumed', [('cvpr2018', '2020'), ('2020', 'cvpr2018')])
def test_a_checkpoint_resumed_under_another_recipe_is_said_and_skips_no_epoch(
        tmp_path, capsys, trained, resumed):
    """Each recipe saves the epoch in its own layout (the next one, the one done): the
    checkpoint's own recipe reads it, so epoch 3 follows save_2.pth whichever runs it."""
    video_path, annotation_path = ucf_like(tmp_path)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *TINY, '--checkpoint', 1,
             '--learning_rate', 0.01]
    run_main(*flags, '--recipe', trained, '--n_epochs', 2, '--result_path', tmp_path / 'a')
    capsys.readouterr()
    code, err = run_cli(capsys, *flags, '--recipe', resumed, '--n_epochs', 3, '--resume_path',
                        tmp_path / 'a' / 'save_2.pth', '--result_path', tmp_path / 'b')
    assert code in (0, None), err
    assert err.count(f'was trained under --recipe {trained}') == 1, err
    assert f'--recipe {resumed} runs it through that recipe\'s pipeline' in err
    assert 'another kind of learning-rate schedule' in err  # plateau / multistep
    assert [row[0] for row in read_log(tmp_path / 'b' / 'train.log')[1:]] == ['3']


def test_a_recipe_without_its_interface_is_refused():
    class Incomplete(Recipe):
        name, title, pipeline = 'incomplete', 'a release', 'values'

        def layout(self, dataset):
            return None

    with pytest.raises(TypeError, match='clip_settings'):  # at its file's import
        Incomplete()
    with pytest.raises(TypeError, match='not a recipes.base.Recipe'):
        recipes.register(object())
    copied = copy.copy(recipes.RECIPES['cvpr2018'])
    with pytest.raises(ValueError, match='registered already'):
        recipes.register(copied)
    assert 'incomplete' not in recipes.RECIPES


def test_every_registered_recipe_implements_the_interface():
    for recipe in recipes.RECIPES.values():
        assert isinstance(recipe, Recipe) and not type(recipe).__abstractmethods__
        assert recipe.layout('ucf101') is not None and 'resnet' in recipe.families
