"""--distributed under torchrun (2 processes, gloo on the CPU), --amp and --channels_last."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from models.checkpoint import load_checkpoint
from tests.conftest import ROOT
from tests.conftest import data_flags, read_log, run_main, ucf_like
from tests.datagen import labelled_layout

SMALL = ['--no_cuda', '--sample_size', 32, '--sample_duration', 8, '--batch_size', 2,
         '--n_threads', 0, '--model_depth', 10, '--resnet_shortcut', 'A']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(*flags):
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
               '--master_addr', '127.0.0.1', '--master_port', str(free_port()), 'main.py',
               '--distributed', *map(str, flags)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_two_process_training_matches_single_process_evaluation(tmp_path):
    video_path, annotation_path = ucf_like(tmp_path, train=3, val=2)  # 9 training clips
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *SMALL]
    single = tmp_path / 'single'
    run_main(*flags, '--result_path', single, '--n_epochs', 1)  # 4 batches (last 1 dropped)
    assert len(read_log(single / 'train_batch.log')) - 1 == 4

    # Distributed training resumes from the single-process checkpoint.
    ddp = tmp_path / 'ddp'
    out = torchrun(*flags, '--result_path', ddp, '--n_epochs', 3, '--resume_path',
                   single / 'save_1.pth')
    # 9 clips -> 5 per rank -> 2 batches each (the last of 1 dropped): half of 4.
    assert 'epoch 2: 2 ranks trained 2, 2 batches and hold identical weights' in out
    assert 'epoch 3: 2 ranks trained 2, 2 batches and hold identical weights' in out
    # Only rank 0 wrote: one header, each row once.
    assert [r[0] for r in read_log(ddp / 'train.log')] == ['epoch', '2', '3']
    assert [r[:2] for r in read_log(ddp / 'train_batch.log')[1:]] == [
        ['2', '1'], ['2', '2'], ['3', '1'], ['3', '2']]
    assert sorted(os.listdir(ddp)) == ['opts.json', 'save_3.pth', 'train.log',
                                       'train_batch.log', 'val.log']
    assert load_checkpoint(str(ddp / 'save_3.pth'))['epoch'] == 4

    # The same checkpoint evaluated by 2 processes and by 1 gives the same files.
    evaluate = [*flags, '--no_train', '--test', '--n_epochs', 4, '--resume_path',
                ddp / 'save_3.pth']
    torchrun(*evaluate, '--result_path', tmp_path / 'eval_ddp', '--batch_size', 3)
    run_main(*evaluate, '--result_path', tmp_path / 'eval_single')
    (a,), (b,) = [read_log(tmp_path / d / 'val.log')[1:] for d in ('eval_ddp', 'eval_single')]
    assert a[0] == b[0] == '4'
    assert [float(x) for x in a[1:]] == pytest.approx([float(x) for x in b[1:]], rel=1e-5)
    ra, rb = [json.loads((tmp_path / d / 'val.json').read_text())['results']
              for d in ('eval_ddp', 'eval_single')]
    assert sorted(ra) == sorted(rb) and len(ra) == 6
    for video in ra:
        assert [t['label'] for t in ra[video]] == [t['label'] for t in rb[video]]
        assert [t['score'] for t in ra[video]] == pytest.approx(
            [t['score'] for t in rb[video]], abs=1e-5)


@pytest.mark.slow
def test_two_process_2020_inference_matches_one_process(tmp_path):
    """--recipe 2020: two ranks train an epoch (a checkpoint in the release's layout), then
    score --inference with each rank its share of the videos; the results, put back in the
    videos' order, are those of one process, with and without averaging."""
    video_path, annotation_path = labelled_layout(
        str(tmp_path), ['a', 'b'], [(c, 'training', 9) for c in 'ab' for _ in range(2)] +
        [(c, 'validation', n) for c, n in (('a', 12), ('b', 20), ('a', 7), ('b', 17))],
        segments=True)
    flags = ['--recipe', '2020', *data_flags(video_path, annotation_path, 'ucf101', 2), *SMALL]
    torchrun(*flags, '--result_path', tmp_path / 'train', '--n_epochs', 1)
    assert load_checkpoint(str(tmp_path / 'train' / 'save_1.pth'))['epoch'] == 1
    for extra in ([], ['--inference_no_average']):
        evaluate = [*flags, '--resume_path', tmp_path / 'train' / 'save_1.pth', '--no_train',
                    '--no_val', '--inference', '--inference_stride', 4, *extra]
        torchrun(*evaluate, '--result_path', tmp_path / 'ddp')
        run_main(*evaluate, '--result_path', tmp_path / 'single')
        ra, rb = [json.loads((tmp_path / d / 'val.json').read_text())['results']
                  for d in ('ddp', 'single')]
        assert list(ra) == list(rb) == ['v004', 'v005', 'v006', 'v007']
        for video in ra:
            a, b = ([(r.get('segment'), t['label'], t['score'])
                     for r in rows for t in r.get('result', [r])] for rows in (ra[video],
                                                                                rb[video]))
            assert [x[:2] for x in a] == [x[:2] for x in b]
            assert [x[2] for x in a] == pytest.approx([x[2] for x in b], abs=1e-6)
        for d in ('ddp', 'single'):
            os.rename(tmp_path / d, tmp_path / f'{d}{len(extra)}')


def test_distributed_outside_torchrun_is_a_clear_error(tmp_path, capsys):
    video_path, annotation_path = ucf_like(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'WORLD_SIZE')}
    done = subprocess.run([sys.executable, 'main.py', '--distributed', *map(str, data_flags(
        video_path, annotation_path, 'ucf101')), '--no_cuda', '--result_path',
        str(tmp_path / 'r')], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and 'runs under torchrun' in done.stderr
    assert 'Traceback' not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize('flag', ['--amp', '--channels_last'])
def test_amp_and_channels_last_train(tmp_path, flag, bfloat16_cpu):
    video_path, annotation_path = ucf_like(tmp_path)
    result = tmp_path / 'r'
    run_main(*data_flags(video_path, annotation_path, 'ucf101'), *SMALL, '--batch_size', 4,
             '--result_path', result, '--n_epochs', 2, '--learning_rate', 0.01, flag, '--test')
    losses = [float(r[1]) for r in read_log(result / 'train.log')[1:]]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    options = json.loads((result / 'opts.json').read_text())
    assert options['amp_dtype'] == ('bfloat16' if flag == '--amp' else 'float32')
    # bfloat16 and float32 need no gradient scaler: the checkpoint holds an empty state.
    assert load_checkpoint(str(result / 'save_2.pth'))['scaler'] == {}
    assert json.loads((result / 'val.json').read_text())['results']


@pytest.mark.slow
def test_float16_saves_and_restores_its_gradient_scaler(tmp_path, monkeypatch):
    """Where a GPU has no bfloat16, --amp trains in float16 with a GradScaler, whose state
    resumes with the run (float16 autocast also runs on the CPU, so this is tested here)."""
    import runtime
    monkeypatch.setattr(runtime, 'amp_dtype', lambda device: torch.float16)
    video_path, annotation_path = ucf_like(tmp_path, train=1)  # one batch of 2 an epoch
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *SMALL,
             '--learning_rate', 0.01, '--amp', '--no_val']
    result = tmp_path / 'r'
    run_main(*flags, '--result_path', result, '--n_epochs', 1)
    assert json.loads((result / 'opts.json').read_text())['amp_dtype'] == 'float16'
    saved = load_checkpoint(str(result / 'save_1.pth'))['scaler']
    # The scaler has worked (each step grows its tracker or halves its scale).
    assert (saved['scale'], saved['_growth_tracker']) != (65536.0, 0)

    restored = {}
    original = torch.amp.GradScaler.load_state_dict
    monkeypatch.setattr(torch.amp.GradScaler, 'load_state_dict',
                        lambda self, state: (restored.update(state), original(self, state)))
    run_main(*flags, '--result_path', result, '--n_epochs', 2,
             '--resume_path', result / 'save_1.pth')
    assert restored == saved
    assert load_checkpoint(str(result / 'save_2.pth'))['scaler'] != saved


@pytest.mark.slow
def test_channels_last_reaches_the_weights_and_the_inputs(tmp_path, monkeypatch):
    import main as main_module
    seen = {}
    wrap_model = main_module.wrap_model

    def wrap_and_watch(model, runtime, sync_bn=False):
        model = wrap_model(model, runtime, sync_bn)
        seen['weights'] = model.conv1.weight.is_contiguous(
            memory_format=torch.channels_last_3d)
        model.register_forward_pre_hook(lambda module, args: seen.setdefault(
            'inputs', [])
            .append(args[0].is_contiguous(memory_format=torch.channels_last_3d)))
        return model

    monkeypatch.setattr(main_module, 'wrap_model', wrap_and_watch)
    video_path, annotation_path = ucf_like(tmp_path)
    for flags, expected in (([], False), (['--channels_last'], True)):
        seen.clear()
        run_main(*data_flags(video_path, annotation_path, 'ucf101'), *SMALL, '--batch_size', 4,
                 '--result_path', tmp_path / str(expected), '--n_epochs', 1, *flags)
        assert seen['weights'] is expected
        assert seen['inputs'] and all(x is expected for x in seen['inputs'])


@pytest.mark.slow
def test_autocast_runs_the_model_in_bfloat16_on_the_cpu(make_opt, bfloat16_cpu):
    from models import generate_model
    from runtime import Runtime
    opt = make_opt('--amp', '--sample_size', 32, '--sample_duration', 8, '--n_classes', 3)
    runtime = Runtime.from_options(opt)
    assert runtime.amp_dtype == torch.bfloat16
    model, _ = generate_model(opt)
    with runtime.autocast():
        out = model(torch.randn(2, 3, 8, 32, 32))
    assert out.dtype == torch.bfloat16
    with Runtime.from_options(make_opt()).autocast():
        assert model(torch.randn(2, 3, 8, 32, 32)).dtype == torch.float32


def test_amp_on_a_cpu_without_bfloat16_trains_in_float32_and_says_so(make_opt, monkeypatch,
                                                                      capsys):
    import runtime
    monkeypatch.setattr(runtime, 'cpu_has_bfloat16', lambda: False)
    built = runtime.Runtime.from_options(make_opt('--amp'))
    assert built.amp_dtype is None and built.precision == 'float32'
    out = capsys.readouterr().out
    assert out.count('--amp: this CPU has no bfloat16 instructions') == 1
    assert out.rstrip().endswith('training in float32')


@pytest.mark.parametrize('flags, expected', [
    ('fpu sse avx2 fma', False),  # an AVX2-only x86 CPU
    ('fpu avx2 avx512f avx512_bf16', True),
    ('fpu avx2 amx_bf16 amx_tile', True),
])
def test_bfloat16_instructions_are_read_from_the_cpu_flags(tmp_path, flags, expected):
    import runtime
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text(f'processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n')
    assert runtime.cpu_has_bfloat16(str(cpuinfo)) is expected
    arm = tmp_path / 'arm'
    arm.write_text('processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n')
    assert runtime.cpu_has_bfloat16(str(arm)) is True
    assert runtime.cpu_has_bfloat16(str(tmp_path / 'absent')) is True


def two_node_agents(result, flags, port, max_restarts=0):
    """Two torchrun agents of one process each, as two nodes would start them (c10d
    rendezvous on 127.0.0.1), training into one shared result folder."""
    command = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2',
               '--nproc_per_node', '1', '--rdzv_backend', 'c10d', '--rdzv_endpoint',
               f'127.0.0.1:{port}', '--rdzv_id', 'two_nodes', '--max_restarts',
               str(max_restarts), '--monitor_interval', '0.5', 'main.py', '--distributed',
               *map(str, flags), '--result_path', str(result)]
    # A store for each restart attempt (docs/cluster.md): torchrun's shared one can hand a
    # restarted worker the previous attempt's addresses.
    env = dict(os.environ, OMP_NUM_THREADS='1', TORCH_DISABLE_SHARE_RDZV_TCP_STORE='1')
    return [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True) for _ in range(2)]


# torchrun's own exit race: the agent hosting the c10d store may end first, and the other,
# its workers done, then fails to leave the rendezvous. The run itself is judged by what it
# wrote.
STORE_GONE = 'Failed to recv, got 0 bytes'


def finished(agents, timeout=240):
    outputs = [agent.communicate(timeout=timeout) for agent in agents]
    for agent, (out, err) in zip(agents, outputs):
        assert agent.returncode == 0 or STORE_GONE in err, err[-3000:]
    return outputs


def worker_of(agent):
    """The main.py process an agent started (its child)."""
    children = subprocess.run(['pgrep', '-f', '-P', str(agent.pid), 'main.py'],
                              capture_output=True, text=True).stdout.split()
    assert children, subprocess.run(['ps', '-ef', '--forest'], capture_output=True,
                                    text=True).stdout
    return int(children[0])


@pytest.mark.slow
def test_a_node_s_worker_killed_mid_run_costs_only_the_epoch_it_was_in(tmp_path):
    """Two nodes (agents) train 4 epochs with --resume_path auto; a worker of one is killed
    (SIGKILL) in epoch 3; torchrun restarts both; the run ends with each epoch logged once,
    save_1.pth and save_2.pth as they were, and the weights of an uninterrupted run."""
    video_path, annotation_path = ucf_like(tmp_path, train=3)
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *SMALL, '--n_epochs', 4,
             '--checkpoint', 1, '--no_val', '--resume_path', 'auto']
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    finished(two_node_agents(straight, flags, free_port()))
    running = two_node_agents(killed, flags, free_port(), max_restarts=2)
    log, deadline = killed / 'train_batch.log', time.time() + 240
    while not (log.exists() and any(r[0] == '3' for r in read_log(log)[1:])):
        assert time.time() < deadline and all(a.poll() is None for a in running)
        time.sleep(0.05)
    saved = {n: (killed / n).read_bytes() for n in ('save_1.pth', 'save_2.pth')}
    os.kill(worker_of(running[1]), signal.SIGKILL)
    outputs = finished(running)
    assert any('continuing from' in err and 'save_2.pth' in err for _, err in outputs)
    assert [r[0] for r in read_log(killed / 'train.log')] == ['epoch', '1', '2', '3', '4']
    batches = [tuple(r[:2]) for r in read_log(killed / 'train_batch.log')[1:]]
    assert batches == [tuple(r[:2]) for r in read_log(straight / 'train_batch.log')[1:]]
    assert all((killed / n).read_bytes() == data for n, data in saved.items())
    a, b = (load_checkpoint(str(d / 'save_4.pth'))['state_dict'] for d in (straight, killed))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5, rtol=0) for k in a)


@pytest.mark.slow
def test_sigterm_to_torchrun_stops_both_ranks_mid_epoch_and_the_run_resumes_exactly(tmp_path):
    """SIGTERM to torchrun (as a scheduler sends it) in epoch 2: both ranks stop after the
    same batch, rank 0 writes interrupted.pth with both positions; the same command with
    --resume_path auto ends with the weights and log rows of an unstopped run."""
    video_path, annotation_path = ucf_like(tmp_path, train=8)  # 12 clips a rank: 6 batches
    flags = [*data_flags(video_path, annotation_path, 'ucf101'), *SMALL, '--n_epochs', 3,
             '--checkpoint', 1, '--no_val', '--resume_path', 'auto']
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    torchrun(*flags, '--result_path', straight)
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
               '--master_addr', '127.0.0.1', '--master_port', str(free_port()), 'main.py',
               '--distributed', *map(str, flags), '--result_path', str(split)]
    agent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=dict(os.environ, OMP_NUM_THREADS='1'),
                             start_new_session=True)
    log, deadline = split / 'train_batch.log', time.time() + 240
    while not (log.exists() and any(r[0] == '2' for r in read_log(log)[1:])):
        assert time.time() < deadline and agent.poll() is None, agent.communicate()
        time.sleep(0.02)
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=240)
    state = load_checkpoint(str(split / 'interrupted.pth'))
    assert len(state['loader']) == 2 and state['progress'][0] == 2, err[-2000:]
    assert 0 < state['progress'][2] < 6, state['progress']  # part-way through the epoch
    torchrun(*flags, '--result_path', split)
    a, b = (load_checkpoint(str(d / 'save_3.pth'))['state_dict'] for d in (straight, split))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5, rtol=0) for k in a)
    for name in ('train.log', 'train_batch.log'):
        rows_a, rows_b = read_log(straight / name), read_log(split / name)
        assert [r[:2] for r in rows_a] == [r[:2] for r in rows_b], name
        assert [float(x) for r in rows_a[1:] for x in r] == pytest.approx(
            [float(x) for r in rows_b[1:] for x in r], abs=1e-5), name


@pytest.mark.parametrize('nodes,restarts,shared,said', [
    (2, 3, 'True', True), (1, 3, 'True', False), (2, 0, 'True', False), (2, 3, 'False', False)])
def test_a_store_shared_across_restarting_nodes_is_warned_of(monkeypatch, capsys, nodes,
                                                             restarts, shared, said):
    from distributed import warn_of_a_shared_store
    for name, value in (('RANK', '0'), ('GROUP_WORLD_SIZE', str(nodes)),
                        ('TORCHELASTIC_MAX_RESTARTS', str(restarts)),
                        ('TORCHELASTIC_USE_AGENT_STORE', shared)):
        monkeypatch.setenv(name, value)
    warn_of_a_shared_store()
    err = capsys.readouterr().err
    assert ('TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1' in err) == said
    assert err.count('\n') == int(said)
