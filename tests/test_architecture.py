"""The shape of the code (docs/extending.md): the product's imports, function-local ones
included, have no cycle and run top-down through the layers; no file outside recipes/ asks
which recipe it runs by name; no product file is longer than a reader takes in."""
import ast
import os

import pytest

from tests.conftest import ROOT

# Top to bottom; a module imports modules of its own layer or below it. Every product
# module is in exactly one layer (a new one is placed here).
LAYERS = (
    ('commands', ('main', 'inference', 'export', 'utils_scripts')),
    ('the option parser', ('opts',)),
    ('recipes', ('recipes',)),
    ('the loops', ('epochs', 'resume_auto', 'train', 'validation', 'test', 'engine', 'loaders',
                   'result_folder', 'curves', 'damage', 'distributed', 'runtime',
                   'inference_pass', 'inference_results')),
    ('datasets, models, transforms', ('datasets', 'models', 'spatial_transforms',
                                      'frame_resize', 'temporal_transforms',
                                      'target_transforms', 'clip_settings', 'mean')),
    ('native, utils', ('native', 'utils', 'argtypes', 'random_state')),
)
MAX_LINES = 450


def product_modules():
    """{module name: path} of every Python file of the product (not tests/ or bench/)."""
    modules = {}
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(('.', '__'))
                               and not (folder == ROOT and d in ('tests', 'bench')))
        for file in files:
            if file.endswith('.py'):
                parts = os.path.relpath(os.path.join(folder, file), ROOT)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                modules['.'.join(parts)] = os.path.join(folder, file)
    return modules


def imports_of(path, name, modules):
    """The product modules a file imports anywhere in it (functions included)."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(filter(None, [package.rsplit('.', node.level - 1)[0], base]))
            targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # utils_scripts' programs put their own folder on the path: `from frames import`
            if target not in modules and name.startswith('utils_scripts.'):
                target = f'utils_scripts.{target}'
            while target and target not in modules:
                target = target.rpartition('.')[0]
            if target and target != name:
                found.add(target)
    return found


@pytest.fixture(scope='module')
def graph():
    modules = product_modules()
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def layer_of(name):
    for k, (_, roots) in enumerate(LAYERS):
        if name.split('.')[0] in roots:
            return k
    return None


def test_every_product_module_has_a_layer(graph):
    assert [name for name in graph if layer_of(name) is None] == []


def test_imports_run_top_down(graph):
    upward = [f'{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})'
              for a, targets in graph.items() for b in targets if layer_of(b) < layer_of(a)]
    assert upward == []


def test_imports_have_no_cycle(graph):
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 'open':
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_no_command_imports_another(graph):
    commands = {'main', 'inference', 'export'}
    assert [(a, b) for a, targets in graph.items() for b in targets if b in commands] == []


def test_nothing_outside_recipes_compares_a_recipe_name():
    """What differs between releases is asked of the recipe object: no product file outside
    recipes/ holds a recipe's name as a value."""
    from recipes import RECIPES
    names = set(RECIPES)
    found = []
    for name, path in product_modules().items():
        if name.split('.')[0] == 'recipes':
            continue
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f'{os.path.relpath(path, ROOT)}:{node.lineno} {node.value!r}')
    assert found == []


def test_no_product_file_is_over_the_length_a_reader_takes_in():
    long = {os.path.relpath(path, ROOT): n for path in product_modules().values()
            if (n := sum(1 for _ in open(path, encoding='utf-8'))) > MAX_LINES}
    assert long == {}


def test_the_test_finds_what_it_looks_for(graph):
    """The graph holds the imports it should: a module-level one, a function-local one and
    one from utils_scripts' own folder."""
    assert 'recipes' in graph['main'] and 'opts' in graph['main']
    assert 'spatial_transforms' in graph['datasets.videodataset']  # inside a function
    assert 'utils_scripts.frames' in graph['utils_scripts.video_jpg']
