"""Steps a session bag keeps when `devrobot run` is killed, and bags a second Ctrl-C destroys.

SIGKILL trials: each runs `devrobot run --robot sim --interactive --steps N`, accepts every
proposed action at once (or at --pace-hz, like a slower robot), and kills the run with SIGKILL
when the prompt of a randomly drawn step appears, so the steps it took are known exactly. Then
`devrobot repair` rebuilds the bag and the steps that read back are counted. The steps lost are
those taken but not yet flushed: at most one flush window (--bag-flush-interval-s, default 1 s,
or --bag-flush-bytes of waiting data, whichever comes first).

Double Ctrl-C trials (--double-sigint N): a run at full speed gets SIGINT, then a second one
0-50 ms later, while it finishes its bag; a bag that does not read back whole is destroyed.

    .venv/bin/python benchmarks/bag_recovery.py                          # 10 trials, 224 px
    .venv/bin/python benchmarks/bag_recovery.py --pace-hz 10 --image-size 64
    .venv/bin/python benchmarks/bag_recovery.py --learn --trials 2 --max-kill-step 150
    .venv/bin/python benchmarks/bag_recovery.py --trials 0 --double-sigint 12
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devrobot_core.bags.session_bag import read_session, SessionBagError
from devrobot_core.motor import MotorCommand


def devrobot(*argv) -> list:
    return [sys.executable, '-m', 'devrobot_bringup.cli', *argv]


def commands_in(bag: Path, allow_partial: bool = False) -> int:
    return sum(isinstance(event, MotorCommand)
               for event in read_session(bag, allow_partial)[1])


def only_bag(out: Path) -> Path:
    [bag] = (out / 'bags').iterdir()
    return bag


def kill_at_step(out: Path, args, kill_step: int) -> dict:
    """Run until the prompt after `kill_step` steps, SIGKILL, repair: what was kept."""
    argv = ['run', '--robot', 'sim', '--interactive', '--steps', str(args.steps),
            '--image-size', str(args.image_size), '--out', str(out), '--no-progress',
            *args.run_flags]
    if args.learn:
        argv.append('--learn')
    process = subprocess.Popen(devrobot(*argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ,
                                                                PYTHONUNBUFFERED='1'))
    prompts, answered, first_s, last_s = 0, 0, None, None
    try:
        while prompts <= kill_step:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(process.stderr.read().decode()[-2000:])
            prompts += chunk.count(b'Proposed action')
            last_s = time.monotonic()
            first_s = first_s or last_s
            while answered < min(prompts, kill_step):
                if args.pace_hz:
                    time.sleep(1 / args.pace_hz)
                process.stdin.write(b'\n')
                process.stdin.flush()
                answered += 1
    finally:
        process.kill()  # SIGKILL, right as the prompt after step `kill_step` shows
        process.communicate()
    bag = only_bag(out)
    on_disk = commands_in(bag, allow_partial=True)
    repair = subprocess.run(devrobot('repair', str(bag)), capture_output=True, text=True)
    if repair.returncode != 0:
        raise RuntimeError(repair.stderr)
    kept = commands_in(bag)
    rate = (kill_step - 1) / (last_s - first_s) if kill_step > 1 and last_s > first_s else 0.0
    return {'taken': kill_step, 'on_disk': on_disk, 'kept': kept, 'lost': kill_step - kept,
            'steps_per_s': rate}


def double_sigint(out: Path, rng: random.Random) -> str:
    process = subprocess.Popen(devrobot('run', '--robot', 'sim', '--steps', '100000000',
                                        '--out', str(out), '--no-progress'),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not list(out.glob('bags/*/*.mcap')):
        time.sleep(0.05)
    time.sleep(rng.uniform(0.5, 1.5))
    process.send_signal(signal.SIGINT)
    time.sleep(rng.uniform(0.0, 0.05))
    process.send_signal(signal.SIGINT)
    process.communicate()
    try:
        return f'whole ({commands_in(only_bag(out))} steps)'
    except SessionBagError as error:
        return f'DESTROYED: {error}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trials', type=int, default=10)
    parser.add_argument('--steps', type=int, default=1000, help='steps of each run')
    parser.add_argument('--max-kill-step', type=int, default=0,
                        help='draw the kill step from 1..this (default: --steps - 1)')
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--pace-hz', type=float, default=0.0,
                        help='answer prompts at this rate (0: at once)')
    parser.add_argument('--learn', action='store_true', help='run with the world model')
    parser.add_argument('--double-sigint', type=int, default=0, metavar='N',
                        help='also run N double Ctrl-C trials')
    parser.add_argument('--seed', type=int, default=0)
    args, run_flags = parser.parse_known_args()
    args.run_flags = run_flags  # the rest goes to `devrobot run`
    rng = random.Random(args.seed)
    highest = args.max_kill_step or args.steps - 1
    rows = []
    with tempfile.TemporaryDirectory(prefix='bag_recovery_') as folder:
        for trial in range(args.trials):
            row = kill_at_step(Path(folder) / f'kill_{trial}', args, rng.randint(1, highest))
            rows.append(row)
            print(f"trial {trial}: {row['taken']} steps taken, {row['on_disk']} on disk, "
                  f"{row['kept']} kept after repair, {row['lost']} lost "
                  f"({row['steps_per_s']:.0f} steps/s)", flush=True)
        if rows:
            lost = [row['lost'] for row in rows]
            seconds = [row['lost'] / row['steps_per_s'] for row in rows if row['steps_per_s']]
            print(f'SIGKILL: {len(rows)} trials, steps lost: max {max(lost)}, '
                  f'mean {sum(lost) / len(lost):.1f}; as time at the run\'s pace: max '
                  f'{1000 * max(seconds, default=0.0):.0f} ms; repair kept every step on '
                  f"disk: {all(row['kept'] == row['on_disk'] for row in rows)}")
        results = [double_sigint(Path(folder) / f'sigint_{trial}', rng)
                   for trial in range(args.double_sigint)]
        for trial, result in enumerate(results):
            print(f'double Ctrl-C {trial}: {result}', flush=True)
        if results:
            destroyed = sum(result.startswith('DESTROYED') for result in results)
            print(f'double Ctrl-C: {destroyed} of {len(results)} bags destroyed')


if __name__ == '__main__':
    main()
