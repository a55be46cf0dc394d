"""The explorer's JSON API, endpoint by endpoint, on a recorded bag and a tiny checkpoint."""

import importlib.util
import io
import json
import time

import numpy as np
import pytest
from explorer_support import folder_digest, record_session, train_checkpoint, wait_until
from PIL import Image

import devrobot_world_model
from devrobot_world_model.explorer.explorer_state import Explorer
from devrobot_world_model.explorer.server import build_app
from devrobot_world_model.explorer.sources import resolve

try:
    from starlette.testclient import TestClient
except ImportError:
    TestClient = None

# a mark, not a skip while importing (it would skip the whole folder under launch_testing)
pytestmark = pytest.mark.skipif(TestClient is None or importlib.util.find_spec('httpx') is None,
                                reason="the explorer's API tests need starlette and httpx")


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A run folder: one 24-step bag (step 5 STOPPED) and a tiny model trained on it."""
    folder = tmp_path_factory.mktemp('explorer') / 'run'
    record_session(folder / 'bags' / 'session_a', steps=24, stopped_at=(5,))
    train_checkpoint(folder / 'bags' / 'session_a', folder)
    return folder


@pytest.fixture
def client_for():
    explorers = []

    def make(*paths, checkpoint=None, train_out=''):
        explorer = Explorer(resolve(paths, checkpoint), 'cpu', train_out)
        explorer.start()
        explorers.append(explorer)
        return TestClient(build_app(explorer)), explorer

    yield make
    for explorer in explorers:
        explorer.stop()


def ready(client, bag=0):
    """Wait for the bag to be indexed and the model loaded; the session."""
    def done():
        session = client.get('/api/session').json()
        bag_info = session['bags'][bag]
        return session if bag_info['complete'] and session['model']['state'] != 'loading' \
            else None
    return wait_until(done, message='the bag and the model')


def png(response) -> np.ndarray:
    assert response.status_code == 200 and response.headers['content-type'] == 'image/png'
    return np.array(Image.open(io.BytesIO(response.content)).convert('RGB'))


def test_session_steps_and_a_step_with_every_prediction(run, client_for):
    client, explorer = client_for(run)
    session = ready(client)
    assert client.get('/').status_code == 200 and 'explorer.js' in client.get('/').text
    assert client.get('/static/explorer.js').status_code == 200
    bag = session['bags'][0]
    assert bag['robot_type'] == 'toroidal_dot' and bag['steps'] == 24
    assert bag['transitions'] == 23 and [a['index'] for a in bag['action_space']] == [0, 1]
    assert session['model']['state'] == 'ready' and session['models']['0']['mismatch'] == ''
    assert session['run_dir'] == str(run) and session['watching']

    steps = client.get('/api/bags/0/steps').json()
    assert steps['total'] == 24 and steps['status'][5] == 'STOPPED'
    assert steps['transition'][5] is False and sum(steps['transition']) == 23
    assert client.get('/api/bags/0/steps?start=20').json()['action'] == steps['action'][20:]

    detail = client.get('/api/bags/0/steps/3').json()
    assert detail['state']['status'] == 'COMPLETED' and detail['transition']
    assert detail['action'] == steps['action'][3] and detail['note'] == ''
    frame = png(client.get('/api/bags/0/steps/3/images/frame.png'))
    actual = png(client.get('/api/bags/0/steps/3/images/next.png'))
    model = devrobot_world_model.load(run / 'checkpoints')
    for action in (0, 1):
        predicted = png(client.get(f'/api/bags/0/steps/3/images/prediction-{action}.png'))
        expected = model.predict(frame[None], [model.action_space[action]])[0]
        np.testing.assert_array_equal(predicted, expected)
        error = np.mean((expected / 255.0 - actual / 255.0) ** 2)
        assert detail['model']['errors'][action] == pytest.approx(error, rel=1e-4)
        difference = png(client.get(f'/api/bags/0/steps/3/images/difference-{action}.png'))
        assert difference.shape == frame.shape
        assert (difference.sum() == 0) == np.array_equal(expected, actual)
    np.testing.assert_array_equal(png(client.get('/api/bags/0/steps/3/images/reconstruction'
                                                 '.png')), model.reconstruct(frame[None])[0])

    stopped = client.get('/api/bags/0/steps/5').json()
    assert stopped['state'] == {**stopped['state'], 'status': 'STOPPED',
                                'reason': 'stop requested'}
    assert stopped['note'] == 'stopped: stop requested'


def test_errors_sweep_and_attention(run, client_for):
    client, explorer = client_for(run)
    ready(client)
    series = wait_until(lambda: (lambda s: s if s['computed'] == 23 else None)(
        client.get('/api/bags/0/errors').json()), message='every error')
    assert series['errors'][5] is None and len(series['errors']) == 24
    detail = client.get('/api/bags/0/steps/9').json()
    assert series['errors'][9] == pytest.approx(detail['model']['errors'][detail['action']],
                                                rel=1e-4)

    sweep = client.get('/api/bags/0/steps/9/sweep').json()
    assert sweep['errors'] == detail['model']['errors'] and sweep['taken'] == detail['action']
    assert sweep['window'][0] <= 9 <= sweep['window'][1]
    for key in ('sens/diversity', 'sens/relative_diversity', 'cf/shuffle_change',
                'cf/zero_change'):
        assert np.isfinite(sweep[key]) and sweep[key] >= 0

    attention = client.get('/api/bags/0/steps/9/attention').json()
    assert attention['available'] and len(attention['layers']) == 1  # tf-depth 1
    for key in ('apa', 'alf', 'ttar', 'ri16', 'entropy', 'entropy_normalized'):
        assert np.isfinite(attention['metrics'][f'attn/layer0/{key}'])
    assert 0 <= attention['metrics']['attn/apa'] <= 1 and attention['grid'] == [4, 4]
    assert png(client.get('/api/bags/0/steps/9/images/attention-0.png')).ndim == 3
    assert png(client.get('/api/bags/0/steps/9/images/focus-0.png')).shape == (16, 16, 3)


def test_bad_requests_get_a_reason(run, client_for):
    client, _ = client_for(run)
    ready(client)
    for path, status in (('/api/bags/7/steps', 404), ('/api/bags/0/steps/99', 404),
                         ('/api/bags/0/steps/3/images/nonsense.png', 404),
                         ('/api/bags/0/steps/3/images/prediction-9.png', 404),
                         ('/api/bags/0/steps?start=x', 404)):
        response = client.get(path)
        assert response.status_code == status and response.json()['error'], path
    assert client.post('/api/training/pause').status_code == 409  # no job
    assert client.post('/api/training/explode').status_code == 404
    response = client.post('/api/training', json={'bag': 0, 'start': 5, 'stop': 5, 'out': 'x'})
    assert response.status_code == 422 and 'empty range' in response.json()['error']
    response = client.post('/api/training', json={'bag': 0, 'start': 5, 'stop': 6, 'out': 'x'})
    assert response.status_code == 409 and 'no transitions' in response.json()['error']


def test_looking_changes_nothing_on_disk(run, client_for):
    before = folder_digest(run)
    client, _ = client_for(run)
    ready(client)
    wait_until(lambda: client.get('/api/bags/0/errors').json()['computed'] == 23)
    for index in range(24):
        detail = client.get(f'/api/bags/0/steps/{index}').json()
        for name in (detail['model'] or {}).get('images', []):
            client.get(f'/api/bags/0/steps/{index}/images/{name}.png')
    client.get('/api/bags/0/steps/9/sweep')
    client.get('/api/bags/0/steps/9/attention')
    assert folder_digest(run) == before


def test_training_on_a_range_saves_a_checkpoint_the_learner_resumes(run, client_for, tmp_path):
    from devrobot_world_model.learning import checkpoint_io
    from devrobot_world_model.learning.learner import Learner, LearnerConfig

    source = checkpoint_io.load_checkpoint(run / 'checkpoints')
    client, explorer = client_for(run, train_out=str(tmp_path / 'out'))
    ready(client)
    before = folder_digest(run)
    response = client.post('/api/training', json={
        'bag': 0, 'start': 2, 'stop': 20, 'updates': 6, 'batch_size': 4,
        'out': str(tmp_path / 'out')})
    assert response.status_code == 200, response.text
    status = wait_until(lambda: (lambda s: s if s['state'] in ('finished', 'failed') else None)(
        client.get('/api/training').json()), message='the training job')
    assert status['state'] == 'finished', status['error']
    assert status['updates_done'] == 6 and status['transitions'] == 17  # step 5 stopped
    assert len(status['losses']) == 6 and status['saved'].endswith('checkpoint.pt')
    assert folder_digest(run) == before  # the source run is untouched

    saved = checkpoint_io.load_checkpoint(tmp_path / 'out' / 'checkpoints')
    assert saved['counters']['updates'] == source['counters']['updates'] + 6
    assert saved['counters']['steps'] == source['counters']['steps']
    assert saved['learner_config'] == source['learner_config']
    changed = [k for k in saved['model']
               if not np.array_equal(saved['model'][k], source['model'][k])]
    assert changed  # it learned

    space = devrobot_world_model.load(tmp_path / 'out' / 'checkpoints').action_space
    learner = Learner(space, LearnerConfig(device='cpu', image_size=saved['spec']['image_size']),
                      checkpoint_dir=tmp_path / 'out' / 'checkpoints')
    assert learner.updates == saved['counters']['updates']
    for key, value in learner.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), saved['model'][key].numpy())
    learner.close()
    # the explorer now shows the trained model
    wait_until(lambda: client.get('/api/session').json()['model']['checkpoint']
               == str(tmp_path / 'out' / 'checkpoints'), message='the new model')


def test_devrobot_train_resumes_from_a_fresh_model_trained_in_the_explorer(client_for,
                                                                           tmp_path, capsys):
    import argparse

    from devrobot_world_model.commands import train_command
    record_session(tmp_path / 'bag', steps=16)
    client, explorer = client_for(tmp_path / 'bag')
    wait_until(lambda: client.get('/api/session').json()['bags'][0]['complete'])
    assert client.get('/api/session').json()['model']['state'] == 'none'
    assert client.get('/api/bags/0/steps/2').json()['model'] is None
    response = client.post('/api/training', json={'bag': 0, 'start': 0, 'stop': 16,
                                                  'updates': 2, 'batch_size': 2,
                                                  'out': str(tmp_path / 'run')})
    assert response.status_code == 200, response.text
    wait_until(lambda: client.get('/api/training').json()['state'] == 'finished',
               timeout=120, message='the training job')
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args(['--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'run'),
                              '--json'])
    assert train_command.main(args) == 0  # resumes the default model the explorer trained
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary['steps_total'] == 16  # the explorer's model had seen no steps yet
    assert devrobot_world_model.load(tmp_path / 'run' / 'checkpoints').image_size == 16


def test_pause_resume_cancel_and_a_threshold(run, client_for, tmp_path):
    client, explorer = client_for(run)
    ready(client)
    request = {'bag': 0, 'start': 0, 'stop': 24, 'updates': 100000, 'batch_size': 2,
               'out': str(tmp_path / 'cancelled')}
    assert client.post('/api/training', json=request).status_code == 200
    wait_until(lambda: client.get('/api/training').json()['updates_done'] >= 2)
    assert client.post('/api/training', json=request).status_code == 409  # one at a time
    assert client.post('/api/training/pause').json()['state'] == 'paused'

    def settled():  # the update under way when pausing may still finish
        first = client.get('/api/training').json()['updates_done']
        time.sleep(0.5)
        return first if client.get('/api/training').json()['updates_done'] == first else None
    paused_at = wait_until(lambda: (lambda n: None if n is None else (n,))(settled()))[0]
    time.sleep(0.5)
    assert client.get('/api/training').json()['updates_done'] == paused_at
    assert client.post('/api/training/resume').json()['state'] == 'running'
    wait_until(lambda: client.get('/api/training').json()['updates_done'] > paused_at)
    client.post('/api/training/cancel')
    wait_until(lambda: client.get('/api/training').json()['state'] == 'cancelled')
    assert not (tmp_path / 'cancelled').exists()  # cancelled: nothing saved

    threshold = dict(request, threshold=1e9, out=str(tmp_path / 'threshold'))
    assert client.post('/api/training', json=threshold).status_code == 200
    status = wait_until(lambda: (lambda s: s if s['state'] == 'finished' else None)(
        client.get('/api/training').json()), message='the threshold job')
    assert status['updates_done'] == 5  # the running loss is checked from update 5 on
    assert (tmp_path / 'threshold' / 'checkpoints' / 'checkpoint.pt').is_file()


def test_bags_of_different_robots_are_told_apart(run, client_for, tmp_path):
    record_session(tmp_path / 'noisy', steps=8, distractor=True)  # three actions
    client, explorer = client_for(run / 'bags' / 'session_a', tmp_path / 'noisy',
                                  checkpoint=run / 'checkpoints')
    wait_until(lambda: all(b['complete'] for b in client.get('/api/session').json()['bags']))
    session = ready(client, 1)
    assert [len(b['action_space']) for b in session['bags']] == [2, 3]
    assert session['models']['0']['mismatch'] == ''
    assert 'another action space' in session['models']['1']['mismatch']
    assert client.get('/api/bags/1/steps/2').json()['model'] is None
    assert client.get('/api/bags/1/steps/2/images/frame.png').status_code == 200
    response = client.get('/api/bags/1/steps/2/sweep')
    assert response.status_code == 404 and 'action space' in response.json()['error']


def test_an_lstm_predictor_has_no_attention_but_everything_else(client_for, tmp_path):
    record_session(tmp_path / 'bag', steps=12)
    train_checkpoint(tmp_path / 'bag', tmp_path / 'run',
                     ['--predictor', 'lstm', '--lstm-hidden', '8'])
    client, _ = client_for(tmp_path / 'bag', checkpoint=tmp_path / 'run' / 'checkpoints')
    ready(client)
    assert client.get('/api/bags/0/steps/4/attention').json() == {
        'available': False, 'reason': 'the predictor has no attention (LSTM)'}
    assert len(client.get('/api/bags/0/steps/4').json()['model']['errors']) == 2
    assert 'cf/zero_change' in client.get('/api/bags/0/steps/4/sweep').json()
