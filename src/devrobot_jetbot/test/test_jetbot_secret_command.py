"""`devrobot jetbot-secret`: the secret written here with mode 0600, sent to the robot by ssh."""

import argparse
import stat
import subprocess

from devrobot_core.errors import UsageError
from devrobot_jetbot import jetbot_secret_command
from devrobot_jetbot.rpyc_backend import read_secret
import pytest


def parse(argv):
    parser = argparse.ArgumentParser()
    jetbot_secret_command.add_arguments(parser)
    return parser.parse_args(argv)


class FakeSsh:
    """Records each ssh call; runs the remote command in `home` as a shell would."""

    def __init__(self, home, status=0):
        self.home, self.status, self.calls = home, status, []

    def __call__(self, argv, secret):
        self.calls.append((argv, secret))
        if self.status == 0:
            subprocess.run(['sh', '-c', argv[2]], cwd=self.home, input=secret + '\n',
                           text=True, check=True)
        return self.status


def test_a_new_secret_is_written_here_and_installed_on_the_robot_with_mode_0600(
        tmp_path, capsys):
    local, robot = tmp_path / 'here' / 'secret', tmp_path / 'robot'
    robot.mkdir()
    ssh = FakeSsh(robot)
    args = parse(['--host', '192.168.1.42', '--secret-file', str(local)])
    assert jetbot_secret_command.main(args, ssh=ssh) == 0
    secret = read_secret(str(local))
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    ((argv, sent),) = ssh.calls
    assert argv[:2] == ['ssh', 'jetbot@192.168.1.42'] and sent == secret
    assert all(secret not in part for part in argv)  # never on a command line
    installed = robot / '.devrobot_secret'
    assert installed.read_text().strip() == secret
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert 'installed it on jetbot@192.168.1.42' in capsys.readouterr().err


def test_an_existing_secret_is_kept_tightened_and_installed(tmp_path, capsys):
    local = tmp_path / 'secret'
    local.write_text('correct horse\n')
    local.chmod(0o644)
    robot = tmp_path / 'robot'
    robot.mkdir()
    (robot / '.devrobot_secret').write_text('old\n')
    (robot / '.devrobot_secret').chmod(0o644)
    args = parse(['--host', 'jetbot.local', '--user', 'pi', '--secret-file', str(local)])
    assert jetbot_secret_command.main(args, ssh=FakeSsh(robot)) == 0
    assert local.read_text() == 'correct horse\n'
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert (robot / '.devrobot_secret').read_text() == 'correct horse\n'
    assert stat.S_IMODE((robot / '.devrobot_secret').stat().st_mode) == 0o600
    assert 'kept the secret' in capsys.readouterr().err


def test_print_only_prints_the_exact_command_and_runs_nothing(tmp_path, capsys):
    local = tmp_path / 'secret'
    ssh = FakeSsh(tmp_path)
    args = parse(['--host', '10.0.0.7', '--secret-file', str(local), '--print-only'])
    assert jetbot_secret_command.main(args, ssh=ssh) == 0
    assert ssh.calls == [] and local.exists()
    printed = capsys.readouterr().out.strip()
    assert printed == ("ssh jetbot@10.0.0.7 'umask 077 && cat > .devrobot_secret.new && chmod "
                       "600 .devrobot_secret.new && mv .devrobot_secret.new .devrobot_secret' "
                       f'< {local}')


def test_a_failing_ssh_is_one_line_with_the_command_to_run_by_hand(tmp_path, capsys):
    local = tmp_path / 'secret'
    args = parse(['--host', '10.0.0.7', '--secret-file', str(local)])
    assert jetbot_secret_command.main(args, ssh=FakeSsh(tmp_path, status=255)) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[-1].startswith('jetbot-secret: error: ssh exited with status 255')
    assert 'ssh jetbot@10.0.0.7' in errors[-1] and local.exists()  # kept for the next try

    def no_ssh(argv, secret):
        raise FileNotFoundError(2, 'No such file or directory')

    assert jetbot_secret_command.main(args, ssh=no_ssh) == 1
    assert 'cannot run ssh: No such file or directory' in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['--host', '-oProxyCommand=touch x'], 'is not a host or user name'),
    (['--host', '10.0.0.7', '--user=-l'], 'is not a host or user name'),
    (['--host', ''], 'is not a host or user name'),
    (['--host', '10.0.0.7', '--robot-secret-file', '../elsewhere'], 'must be a plain path'),
    (['--host', '10.0.0.7', '--robot-secret-file', '/etc/x'], 'must be a plain path'),
    (['--host', '10.0.0.7', '--robot-secret-file', 'a;rm'], 'must be a plain path'),
])
def test_names_that_ssh_or_a_shell_would_misread_are_refused(tmp_path, argv, message):
    ssh = FakeSsh(tmp_path)
    with pytest.raises(UsageError, match=message):
        jetbot_secret_command.main(parse(argv + ['--secret-file', str(tmp_path / 's')]), ssh=ssh)
    assert ssh.calls == [] and not (tmp_path / 's').exists()


def test_an_empty_or_unwritable_local_file_is_one_line(tmp_path):
    empty = tmp_path / 'empty'
    empty.write_text('\n')
    with pytest.raises(UsageError, match='is empty'):
        jetbot_secret_command.main(parse(['--host', 'h', '--secret-file', str(empty)]),
                                   ssh=FakeSsh(tmp_path))
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(UsageError, match='cannot write the secret file'):
        jetbot_secret_command.main(parse(['--host', 'h', '--secret-file',
                                          str(blocker / 'secret')]), ssh=FakeSsh(tmp_path))
