"""What a learner's checkpoint must hold, checked before anything is built from it.

A fuzz of malformed payloads (each key dropped, each given a wrong type, absurd sizes), each
refused with one line and the folder left exactly as it was; the backup used when the primary is
bad; and model settings refused on the meta device before any memory is allocated.
"""

import copy
import hashlib
import time

import numpy as np
import pytest
import torch

from devrobot_world_model.learning.checkpoint_io import (CheckpointError, FORMAT_VERSION,
                                                         load_checkpoint)
from devrobot_world_model.learning.learner import Learner, LearnerConfig
from devrobot_world_model.model import model_io
from test_learner import drive, FAST, make_learner, tiny_robot
from tiny_models import tiny_configs

HUGE = 10 ** 9


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    """A real learner checkpoint (tiny model, 6 transitions) as loaded plain data."""
    folder = tmp_path_factory.mktemp('good')
    learner = make_learner(folder, actor_lag_steps=1)  # a lagging actor: its weights are stored
    drive(learner, tiny_robot(), 6)
    learner.close()
    return torch.load(folder / 'checkpoints' / 'checkpoint.pt', weights_only=True)


def snapshot(folder):
    """Every file under `folder`: name -> (sha256, mtime_ns)."""
    return {str(p.relative_to(folder)):
            (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*')) if p.is_file()}


def saved_mutated(tmp_path, good, mutate):
    """A checkpoints folder under `tmp_path` holding `good` changed by `mutate`; its snapshot."""
    payload = copy.deepcopy(good)
    mutate(payload)
    folder = tmp_path / 'checkpoints'
    folder.mkdir()
    torch.save(payload, folder / 'checkpoint.pt')
    return folder, snapshot(tmp_path)


def learner_on(folder):
    return Learner(tiny_robot().action_space, LearnerConfig(**FAST), tiny_configs(),
                   checkpoint_dir=folder)


def stretched(shape, dtype):
    """A tensor claiming `shape` over one stored element (stride 0): a few bytes on disk."""
    return torch.zeros((1,) + shape[1:], dtype=dtype).expand(shape)


def drop(path):
    def mutate(payload):
        *parents, last = path
        target = payload
        for key in parents:
            target = target[key]
        del target[last]
    return mutate


def put(path, value):
    def mutate(payload):
        *parents, last = path
        target = payload
        for key in parents:
            target = target[key]
        target[last] = value(target[last]) if callable(value) else value
    return mutate


def first_weight(payload):
    return next(iter(payload['model']))


def replay_of(count, size=16, capacity=None):
    def mutate(payload):
        payload['replay'] = {'frames': stretched((count, size, size, 3), torch.uint8),
                             'next_frames': stretched((count, size, size, 3), torch.uint8),
                             'actions': stretched((count,), torch.int64),
                             'follows': stretched((count,), torch.bool)}
        if capacity is not None:
            payload['learner_config']['replay_capacity'] = capacity
    return mutate


# Every key of a learner's checkpoint and the type it holds.
TOP_KEYS = {'kind': str, 'spec': dict, 'action_space': list, 'model': dict, 'optimizer': dict,
            'counters': dict, 'learner_config': dict, 'replay': dict, 'rng': dict,
            'policy_rng': dict, 'format_version': int}
NESTED_KEYS = {**{('spec', k): t for k, t in (('model', dict), ('parts', dict),
                                              ('image_size', int), ('n_actions', int))},
               **{('counters', k): t for k, t in (
                   ('steps', int), ('updates', int), ('skipped', int),
                   ('update_credit', float), ('last_recon_loss', float))},
               **{('replay', k): torch.Tensor for k in ('frames', 'actions', 'next_frames',
                                                        'follows')},
               ('rng', 'python'): tuple, ('rng', 'torch'): torch.Tensor,
               ('optimizer', 'state'): dict, ('optimizer', 'param_groups'): list}
WRONG_VALUES = (7, 'text', [1, 2], None, 1.5)


def wrong_for(kind):
    """The WRONG_VALUES of another type than `kind` (an int passes for a float)."""
    fits = {float: (int, float)}.get(kind, kind)
    return [v for v in WRONG_VALUES if not isinstance(v, fits) or isinstance(v, bool)]


MALFORMED = (
    [(f'drop {k}', drop((k,))) for k in TOP_KEYS]
    + [(f'drop {a}.{b}', drop((a, b))) for a, b in NESTED_KEYS]
    + [(f'{k} = {v!r}', put((k,), v)) for k, kind in TOP_KEYS.items() for v in wrong_for(kind)]
    + [(f'{a}.{b} = {v!r}', put((a, b), v)) for (a, b), kind in NESTED_KEYS.items()
       for v in wrong_for(kind)]
    + [
        ('kind another', put(('kind',), 'devrobot_world_model/0')),
        ('format_version from the future', put(('format_version',), FORMAT_VERSION + 1)),
        ('counters.steps negative', put(('counters', 'steps'), -1)),
        ('counters.steps a bool', put(('counters', 'steps'), True)),
        ('counters.update_credit NaN', put(('counters', 'update_credit'), float('nan'))),
        ('counters.level_streaks bad key', put(('counters', 'level_streaks'), {'x': 1})),
        ('counters.level_streaks of a level the model lacks',
         put(('counters', 'level_streaks'), {'5': 1})),
        ('counters.level_streaks a list', put(('counters', 'level_streaks'), [1])),
        ('counters.level_updates negative', put(('counters', 'level_updates'), {'1': -3})),
        ('counters.level_updates of a level the model lacks',
         put(('counters', 'level_updates'), {'7': 1})),
        ('counters.level_tested_view negative', put(('counters', 'level_tested_view'), -1)),
        ('spec.image_size 10^9', put(('spec', 'image_size'), HUGE)),
        ('spec.image_size 0', put(('spec', 'image_size'), 0)),
        ('spec.image_size a string', put(('spec', 'image_size'), '16')),
        ('spec.n_actions 10^9', put(('spec', 'n_actions'), HUGE)),
        ('spec.n_actions 3 of 2', put(('spec', 'n_actions'), 3)),
        ('spec.model.autoencoder bogus', put(('spec', 'model', 'autoencoder'), 'bogus')),
        ('spec.model unknown setting', put(('spec', 'model', 'extra'), 1)),
        ('spec.parts.cnn patch a string', put(('spec', 'parts', 'cnn', 'cnn_patch_size'), '4')),
        ('spec.parts.cnn patch 5', put(('spec', 'parts', 'cnn', 'cnn_patch_size'), 5)),
        ('spec.parts.cnn channels 10^9', put(('spec', 'parts', 'cnn', 'cnn_channels'), HUGE)),
        ('spec.parts.transformer heads 3',
         put(('spec', 'parts', 'transformer', 'tf_heads'), 3)),
        ('spec.parts unknown part', put(('spec', 'parts', 'resnet'), {})),
        ('action_space NaN speed', put(('action_space',), lambda s: [
            dict(s[0], left=float('nan'))] + s[1:])),
        ('action_space one command short', put(('action_space',), lambda s: s[:1])),
        ('model weight missing', lambda p: p['model'].pop(first_weight(p))),
        ('model weight extra', put(('model', 'extra.weight'), torch.zeros(3))),
        ('model weight reshaped', lambda p: p['model'].__setitem__(
            first_weight(p), torch.zeros(1, 2, 3))),
        ('model weight NaN', lambda p: p['model'][first_weight(p)].fill_(float('nan'))),
        ('model weight a list', lambda p: p['model'].__setitem__(first_weight(p), [0.0])),
        ('optimizer one group', put(('optimizer', 'param_groups'), lambda g: g[:1])),
        ('optimizer lr NaN', lambda p: p['optimizer']['param_groups'][0].__setitem__(
            'lr', float('nan'))),
        ('optimizer betas strings', lambda p: p['optimizer']['param_groups'][1].__setitem__(
            'betas', ('a', 'b'))),
        ('optimizer amsgrad a string', lambda p: p['optimizer']['param_groups'][0].__setitem__(
            'amsgrad', 'yes')),
        ('optimizer moment reshaped', lambda p: next(iter(
            p['optimizer']['state'].values())).__setitem__('exp_avg', torch.zeros(7, 7))),
        ('optimizer moment stretched 10^9', lambda p: next(iter(
            p['optimizer']['state'].values())).__setitem__(
                'exp_avg_sq', stretched((HUGE,), torch.float32))),
        ('optimizer state of an unknown parameter', put(('optimizer', 'state', 10 ** 6), {})),
        ('replay of 10^9 transitions', replay_of(HUGE)),
        ('replay of 10^9 transitions, capacity claimed too', replay_of(HUGE, capacity=HUGE)),
        ('replay frames of another size', replay_of(6, size=32, capacity=HUGE)),
        ('replay longer than its capacity', put(('learner_config', 'replay_capacity'), 2)),
        ('replay actions float', put(('replay', 'actions'), lambda a: a.float())),
        ('replay actions out of range', put(('replay', 'actions'), lambda a: a + 2)),
        ('replay follows one short', put(('replay', 'follows'), lambda f: f[:-1].clone())),
        ('rng.python wrong length', put(('rng', 'python'), lambda s: (s[0], s[1][:5], s[2]))),
        ('rng.torch wrong size', put(('rng', 'torch'), torch.zeros(7, dtype=torch.uint8))),
        ('rng.torch stretched', put(('rng', 'torch'), stretched((5056,), torch.uint8))),
        ('rng.numpy bogus', put(('rng', 'numpy'), {'bit_generator': 'PCG64', 'state': 3})),
        ('policy_rng another generator', put(('policy_rng',), lambda s: dict(
            s, bit_generator='MT19937'))),
        ('actor_weights missing a parameter', put(('actor_weights',), lambda w: [
            dict(list(w[0].items())[1:])])),
        ('actor_weights of another shape', put(('actor_weights',), lambda w: [
            {k: v.reshape(-1) if v.dim() > 1 else v for k, v in w[0].items()}])),
    ]
    # optional (older checkpoints lack them), so never dropped: only made wrong
    + [(f'actor_weights = {v!r}', put(('actor_weights',), v)) for v in WRONG_VALUES]
    + [(f'policy_falling = {v!r}', put(('policy_falling',), v)) for v in WRONG_VALUES]
    + [('policy_falling one short', put(('policy_falling',), lambda f: f[:-1])),
       ('policy_falling above 1', put(('policy_falling',), lambda f: [1.5] + f[1:])),
       ('policy_falling NaN', put(('policy_falling',), lambda f: [float('nan')] + f[1:])),
       ('policy_falling a string', put(('policy_falling',), lambda f: ['1'] + f[1:]))])


def test_the_good_checkpoint_passes_the_checks(good):
    model_io.learner_checkpoint(good)  # the fixture itself is valid: every failure is the cut


@pytest.mark.parametrize('name, mutate', MALFORMED, ids=[name for name, _ in MALFORMED])
def test_a_malformed_checkpoint_is_one_line_and_leaves_the_folder_unchanged(
        tmp_path, good, name, mutate):
    folder, before = saved_mutated(tmp_path, good, mutate)
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as caught:
        learner_on(folder)
    message = str(caught.value)
    assert message.startswith(f'no usable checkpoint in {folder}: checkpoint.pt: ')
    assert '\n' not in message and 'Traceback' not in message
    assert time.perf_counter() - started < 5  # refused by shape, never by filling a buffer
    assert snapshot(tmp_path) == before


@pytest.fixture(scope='module')
def good_held_back(tmp_path_factory):
    """A real checkpoint of a learner that holds transitions back for learning progress."""
    folder = tmp_path_factory.mktemp('held')
    learner = make_learner(folder, configs=tiny_configs(held_back=2))
    drive(learner, tiny_robot(), 12)
    learner.close()
    return torch.load(folder / 'checkpoints' / 'checkpoint.pt', weights_only=True)


def entry(action, index, key):
    return ('held_back', 'entries', action, index, key)


HELD_BACK_MALFORMED = [
    ('held_back a list', put(('held_back',), [1])),
    ('held_back without seen', drop(('held_back', 'seen'))),
    ('held_back seen too short', put(('held_back', 'seen'), [1])),
    ('held_back seen negative', put(('held_back', 'seen'), [-1, 0])),
    ('held_back entries a dict', put(('held_back', 'entries'), {})),
    ('held_back one action too many', lambda p: p['held_back']['entries'].append([])),
    ('held_back more than it keeps', lambda p: p['held_back']['entries'][0].extend(
        p['held_back']['entries'][0] * 2)),
    ('held_back frame of another size', put(entry(0, 0, 'frame'),
                                            torch.zeros(8, 8, 3, dtype=torch.uint8))),
    ('held_back next_frame float', put(entry(0, 0, 'next_frame'), torch.zeros(16, 16, 3))),
    ('held_back frame an array', put(entry(0, 0, 'frame'), np.zeros((16, 16, 3), np.uint8))),
    ('held_back view negative', put(entry(0, 0, 'view'), -1)),
    ('held_back view a string', put(entry(0, 0, 'view'), '3')),
    ('held_back entry without view', drop(entry(0, 0, 'view'))),
]


def test_a_learner_checkpoint_with_held_back_transitions_passes(good_held_back):
    assert all(len(kept) == 2 for kept in good_held_back['held_back']['entries'])
    model_io.learner_checkpoint(good_held_back)


@pytest.mark.parametrize('name, mutate', HELD_BACK_MALFORMED,
                         ids=[name for name, _ in HELD_BACK_MALFORMED])
def test_malformed_held_back_transitions_are_one_line(tmp_path, good_held_back, name, mutate):
    folder, before = saved_mutated(tmp_path, good_held_back, mutate)
    with pytest.raises(CheckpointError) as caught:
        Learner(tiny_robot().action_space, LearnerConfig(**FAST), tiny_configs(held_back=2),
                checkpoint_dir=folder)
    assert 'held_back' in str(caught.value) and '\n' not in str(caught.value)
    assert snapshot(tmp_path) == before


def test_the_fuzz_covers_every_key_and_a_wrong_type_for_each(good):
    assert set(TOP_KEYS) | {'actor_weights', 'policy_falling'} == set(good)
    assert len(good['actor_weights']) >= 1  # the lagging actor's weights are checked too
    assert len(MALFORMED) >= 100


def test_a_small_file_claiming_a_billion_transitions_is_refused_fast(tmp_path, good):
    payload = copy.deepcopy(good)
    replay_of(HUGE, capacity=HUGE)(payload)
    torch.save(payload, tmp_path / 'checkpoint.pt')
    assert (tmp_path / 'checkpoint.pt').stat().st_size < 1_000_000  # the data would be 8 GB
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match='1,000,000,000 elements over 8 stored bytes'):
        learner_on(tmp_path)
    assert time.perf_counter() - started < 2


def test_a_bad_primary_falls_back_to_the_good_backup_which_a_save_keeps(tmp_path, good):
    folder = tmp_path / 'checkpoints'
    folder.mkdir()
    torch.save(good, folder / 'checkpoint_backup.pt')
    bad = copy.deepcopy(good)
    bad['counters']['steps'] = 'many'
    torch.save(bad, folder / 'checkpoint.pt')
    with pytest.warns(RuntimeWarning, match='loaded the backup'):
        learner = learner_on(folder)
    assert learner.steps == good['counters']['steps']
    backup_bytes = (folder / 'checkpoint_backup.pt').read_bytes()
    drive(learner, tiny_robot(), 4)  # learns: a save is due
    learner.save()
    assert (folder / 'checkpoint_backup.pt').read_bytes() == backup_bytes  # not the bad one
    assert load_checkpoint(folder, check=model_io.learner_checkpoint)['counters']['steps'] == \
        good['counters']['steps'] + 4


def test_a_resumed_run_that_fails_before_learning_rewrites_nothing(tmp_path):
    first = make_learner(tmp_path)
    drive(first, tiny_robot(), 6)
    first.close()
    first = make_learner(tmp_path)  # a second save rotates the first into the backup
    drive(first, tiny_robot(), 3)
    first.close()
    before = snapshot(tmp_path / 'checkpoints')
    assert set(before) == {'checkpoint.pt', 'checkpoint_backup.pt'}
    resumed = make_learner(tmp_path)
    big = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(model_io.FrameSizeError,
                       match=r'uint8 \[32, 32, 3\] frame arrived.*\[16, 16, 3\]'):
        resumed.select(big)
    resumed.close()
    assert snapshot(tmp_path / 'checkpoints') == before


def test_model_settings_are_built_on_the_meta_device_and_refused_with_a_reason():
    spec = model_io.model_spec(16, 2, tiny_configs())
    assert next(model_io.check_model_spec(spec).parameters()).device.type == 'meta'
    with pytest.raises(model_io.ModelSettingsError, match='not a multiple of cnn_patch_size'):
        model_io.model_spec(18, 2, tiny_configs())
    huge = tiny_configs()
    huge[1].cnn_channels = 10 ** 6  # 10^12 parameters: refused by arithmetic, not by malloc
    started = time.perf_counter()
    with pytest.raises(model_io.ModelSettingsError, match='GiB to train'):
        model_io.model_spec(16, 2, huge)
    assert time.perf_counter() - started < 2
    assert model_io.nominal_image_size(tiny_configs()) % 4 == 0
