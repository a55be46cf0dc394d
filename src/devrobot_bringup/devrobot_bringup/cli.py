"""`devrobot`: the no-ROS command line. One subcommand per module, imported only when chosen.

Each subcommand module defines `add_arguments(parser)` and `main(args) -> int`; only the chosen
one is imported. A command whose flags come from config dataclasses also takes `--config
FILE.yaml` (a ROS parameter file: `command_config.py`), and its usage line lists its own options
with the grouped flags (`--sim.image-size`, `--learner.batch-size`, ...) as one item.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from devrobot_bringup.command_config import (add_config_option, apply_config_file,
                                             compact_usage, takes_config)
from devrobot_core.errors import FatalError, UsageError

# name -> (module, one-line help)
SUBCOMMANDS = {
    'run': ('devrobot_bringup.run_command',
            'Run a robot (simulator or JetBot) with a policy, record the session, '
            'optionally learn.'),
    'eval': ('devrobot_world_model.commands.eval_command',
             'Score a world-model checkpoint on held-out simulator states.'),
    'bench': ('devrobot_world_model.commands.bench_command',
              'Measure learning and acting speed and memory on this machine.'),
    'explore-bench': ('devrobot_world_model.commands.explore_bench_command',
                      'Compare action selectors on the same budget, on the plain and the noisy '
                      'dot world.'),
    'train': ('devrobot_world_model.commands.train_command',
              'Train a world model offline from recorded session bags, faster than real time.'),
    'explore': ('devrobot_world_model.commands.explore_command',
                'Browse a session bag or run folder in the browser: frames, commands, the '
                "model's predictions and attention, training on a range; live too."),
    'export': ('devrobot_world_model.commands.export_command',
               "Write a session and the model's predictions into one MCAP for Foxglove."),
    'live-view': ('devrobot_jetbot.live_view_command',
                  "Show (or save) a JetBot's live camera feed."),
    'try-action': ('devrobot_jetbot.try_action_command',
                   'Execute one motor command on a JetBot; save the frames before and after.'),
    'jetbot-secret': ('devrobot_jetbot.jetbot_secret_command',
                      "Create the JetBot service's shared secret; install it here and on the "
                      'robot (over ssh).'),
    'import-session': ('devrobot_core.bags.import_session_command',
                       "Convert a session folder of the original system into a session bag."),
    'repair': ('devrobot_core.bags.repair_command',
               'Make a damaged or unfinished session bag readable again (no ROS needed).'),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2), not the usage text.

    `devrobot run` has about 80 flags: the usage argparse prints before its error would push
    the one line that matters off the screen.
    """

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def command_parser_for(name: str) -> tuple:
    """(module, parser) of one subcommand, with `--config` where it takes config flags."""
    module = importlib.import_module(SUBCOMMANDS[name][0])
    parser = OneLineParser(prog=f'devrobot {name}', description=SUBCOMMANDS[name][1])
    module.add_arguments(parser)
    if takes_config(parser):
        add_config_option(parser)
        parser.usage = compact_usage(parser)
    return module, parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineParser(
        prog='devrobot', description='devrobot without ROS: simulate, drive, learn, evaluate.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (_, text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not argv or argv[0] not in SUBCOMMANDS:
        args = parser.parse_args(argv)  # prints help or the usage error and exits
        parser.print_help()
        return 2
    name = argv[0]
    module, command_parser = command_parser_for(name)
    args = command_parser.parse_args(argv[1:])
    try:
        if getattr(args, 'config', None):
            args = apply_config_file(command_parser, argv[1:], name, tuple(SUBCOMMANDS),
                                     args.config)
        return int(module.main(args) or 0)
    except UsageError as error:
        print(f'devrobot {name}: error: {error}', file=sys.stderr)
        return 2
    except (ConnectionError, FatalError) as error:  # an unreachable robot, a full disk...
        print(f'devrobot {name}: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'devrobot {name}: interrupted', file=sys.stderr)
        return 130


def console_main() -> int:
    """The `devrobot` command: main(), and no second Ctrl-C can kill the process afterwards.

    After an interrupted command has closed its files, the interpreter still tears down for a
    while (torch's objects are many); Python restores the default SIGINT action for that, so a
    second Ctrl-C would end the process by the signal instead of with exit status 130.
    """
    status = main()
    if status == 130:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status


if __name__ == '__main__':
    sys.exit(console_main())
