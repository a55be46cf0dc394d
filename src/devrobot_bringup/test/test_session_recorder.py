"""The recorder wrapper: the recorder gets the Ctrl-C a moment after everyone else."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from devrobot_bringup import session_recorder

# A stand-in recorder: writes when it started and when SIGINT reached it, then exits 0.
RECORDER = textwrap.dedent('''
    import signal, sys, time
    out = sys.argv[1]
    open(out, 'w').write(f'start {time.monotonic()}\\n')
    def stop(signum, frame):
        open(out, 'a').write(f'{signal.Signals(signum).name} {time.monotonic()}\\n')
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    time.sleep(60)
''')


def _start(tmp_path, grace_s):
    script = tmp_path / 'recorder.py'
    script.write_text(RECORDER)
    log = tmp_path / 'log'
    wrapper = subprocess.Popen(
        [sys.executable, '-m', 'devrobot_bringup.session_recorder', '--grace-s', str(grace_s),
         '--', sys.executable, str(script), str(log)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return wrapper, log


def _events(log):
    return [(line.split()[0], float(line.split()[1])) for line in log.read_text().splitlines()]


def test_a_group_ctrl_c_reaches_the_recorder_only_after_the_grace(tmp_path):
    wrapper, log = _start(tmp_path, grace_s=0.5)
    sent = time.monotonic()
    os.killpg(wrapper.pid, signal.SIGINT)  # the whole process group, as a terminal does
    assert wrapper.wait(timeout=30) == 0
    (_, _), (name, at) = _events(log)
    assert name == 'SIGINT' and at - sent >= 0.45  # not at once: it was in its own session


def test_the_same_ctrl_c_forwarded_by_launch_does_not_cut_the_grace_short(tmp_path):
    wrapper, log = _start(tmp_path, grace_s=0.5)
    sent = time.monotonic()
    os.killpg(wrapper.pid, signal.SIGINT)  # the terminal's
    wrapper.send_signal(signal.SIGINT)  # and launch's, without a terminal
    assert wrapper.wait(timeout=30) == 0
    assert _events(log)[-1][1] - sent >= 0.45


def test_the_recorders_own_exit_ends_it_with_that_status(tmp_path):
    assert session_recorder.main(['--grace-s', '1', '--', sys.executable, '-c',
                                  'raise SystemExit(3)']) == 3


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        session_recorder.main(['--grace-s', '1'])
    assert exit_info.value.code == 2 and 'no recorder command' in capsys.readouterr().err
