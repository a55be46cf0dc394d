"""How fast the session explorer answers on a 10,000-step bag: its two targets, measured.

    .venv/bin/python benchmarks/explorer_speed.py [--steps 10000] [--bag BAG] [--json]

1. first page: `devrobot explore RUN --port 0` is started as a process; the clock runs from
   the process start until the page, the session, step 0 and its frame image have all been
   served (target: 2 s). Also printed: from the server listening, and until the model is loaded.
2. stepping: once the model is loaded, 200 consecutive steps are shown as the page shows them
   (the step's JSON, then its frame, next frame, reconstruction, and every action's prediction
   and difference image, fetched in parallel as a browser does); p50 / p90 / max per step
   (target p90: 150 ms). The background error pass steps aside meanwhile, as it does while
   a person steps through (it goes on half a second after the page's last request).

The bag is recorded by `devrobot run --robot sim --policy random` (224 px frames) unless
--bag is given; the model is the default CNN + transformer, from --checkpoint or saved by
`devrobot train` on a short bag (an untrained model costs the same time as a trained one).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVROBOT = [sys.executable, '-m', 'devrobot_bringup.cli']


def run(args: list, **kwargs) -> None:
    subprocess.run(DEVROBOT + args, check=True, stdout=subprocess.DEVNULL, **kwargs)


def newest_bag(run_dir: pathlib.Path) -> pathlib.Path:
    return sorted((run_dir / 'bags').iterdir())[-1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def first_page(run_dir: pathlib.Path, checkpoint: pathlib.Path) -> tuple:
    """(process, base URL, figures) with the explorer serving `run_dir`."""
    started = time.perf_counter()
    process = subprocess.Popen(DEVROBOT + ['explore', str(run_dir), '--checkpoint',
                                           str(checkpoint), '--port', '0'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED='1'))
    line = process.stdout.readline()
    listening = time.perf_counter()
    if not line.startswith('devrobot explore: http'):
        raise SystemExit(f'the explorer did not start: {line}{process.stderr.read()}')
    url = line.split()[2]
    get(url)
    while not json.loads(get(url + 'api/session'))['bags'][0]['steps']:
        time.sleep(0.005)
    json.loads(get(url + 'api/bags/0/steps/0'))
    get(url + 'api/bags/0/steps/0/images/frame.png')
    ready = time.perf_counter()
    while json.loads(get(url + 'api/session'))['model']['state'] == 'loading':
        time.sleep(0.05)
    model = time.perf_counter()
    session = json.loads(get(url + 'api/session'))
    if session['model']['state'] != 'ready':
        raise SystemExit(f"the model did not load: {session['model']['error']}")
    return process, url, {'first_page_s': ready - started,
                          'first_page_after_listening_s': ready - listening,
                          'model_ready_s': model - started}


def step_times(url: str, first: int, count: int, actions: int) -> list:
    """Seconds to show each of `count` steps from `first`, as the page loads them."""
    names = ['frame', 'next', 'reconstruction'] + [
        f'{kind}-{a}' for a in range(actions) for kind in ('prediction', 'difference')]
    times = []
    with concurrent.futures.ThreadPoolExecutor(6) as pool:  # a browser's connections per host
        for index in range(first, first + count):
            started = time.perf_counter()
            detail = json.loads(get(f'{url}api/bags/0/steps/{index}'))
            assert detail['model'] is not None, detail
            list(pool.map(get, [f'{url}api/bags/0/steps/{index}/images/{n}.png'
                                for n in names]))
            times.append(time.perf_counter() - started)
    return times


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=10000, help='Steps of the recorded bag.')
    parser.add_argument('--bag', help='Use this run folder or bag instead of recording one.')
    parser.add_argument('--checkpoint', help='Use this checkpoint instead of making one.')
    parser.add_argument('--json', action='store_true', help='Print the figures as JSON.')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='explorer-speed-') as scratch:
        scratch = pathlib.Path(scratch)
        target = pathlib.Path(args.bag) if args.bag else scratch / 'run'
        if not args.bag:
            run(['run', '--robot', 'sim', '--policy', 'random', '--steps', str(args.steps),
                 '--out', str(target), '--no-progress'])
        checkpoint = pathlib.Path(args.checkpoint) if args.checkpoint else None
        if checkpoint is None:
            short = scratch / 'short'
            run(['run', '--robot', 'sim', '--policy', 'random', '--steps', '40', '--out',
                 str(short), '--no-progress'])
            run(['train', '--bag', str(newest_bag(short)), '--out', str(short)])
            checkpoint = short / 'checkpoints'
        process, url, figures = first_page(target, checkpoint)
        try:
            session = json.loads(get(url + 'api/session'))
            bag = session['bags'][0]
            while not bag['complete']:
                time.sleep(0.1)
                bag = json.loads(get(url + 'api/session'))['bags'][0]
            count = min(200, bag['steps'] - 1)
            first = max(0, bag['steps'] // 2 - count // 2)
            step_times(url, first, 5, len(bag['action_space']))  # warm-up
            times = step_times(url, first + 5, count, len(bag['action_space']))
            errors = json.loads(get(url + 'api/bags/0/errors'))
        finally:
            process.terminate()
            process.wait(30)
    figures.update({
        'steps': bag['steps'], 'frame_size': bag['frame_size'],
        'actions': len(bag['action_space']), 'stepped': len(times),
        'step_p50_ms': 1e3 * statistics.median(times), 'step_p90_ms': 1e3 * percentile(times, 0.9),
        'step_max_ms': 1e3 * max(times), 'errors_computed_meanwhile': errors['computed'],
        'cpu_count': os.cpu_count()})
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"bag: {figures['steps']} steps, {figures['frame_size'][1]}x{figures['frame_size'][0]} "
          f"px, {figures['actions']} actions; {figures['cpu_count']} CPUs")
    print(f"first page ready: {figures['first_page_s']:.2f} s after the process started "
          f"({figures['first_page_after_listening_s']:.2f} s after it listened; target 2 s)")
    print(f"model loaded: {figures['model_ready_s']:.2f} s after the process started")
    print(f"stepping with every action's prediction, {figures['stepped']} steps: "
          f"p50 {figures['step_p50_ms']:.0f} ms, p90 {figures['step_p90_ms']:.0f} ms, "
          f"max {figures['step_max_ms']:.0f} ms (target p90: 150 ms)")
    print(f"errors computed by the background pass meanwhile: "
          f"{figures['errors_computed_meanwhile']} steps")
    return 0


if __name__ == '__main__':
    sys.exit(main())
