"""`devrobot`: the no-ROS command line. One subcommand per module, imported only when chosen.

Each subcommand module defines `add_arguments(parser)` and `main(args) -> int`. Importing only
the chosen one keeps `devrobot run` free of torch unless it learns, and `--help` instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from devrobot_core.errors import UsageError

# name -> (module, one-line help)
SUBCOMMANDS = {
    'run': ('devrobot_bringup.run_command',
            'Run a robot (simulator or JetBot) with a policy, record the session, '
            'optionally learn.'),
    'eval': ('devrobot_world_model.commands.eval_command',
             'Score a world-model checkpoint on held-out simulator states.'),
    'bench': ('devrobot_world_model.commands.bench_command',
              'Measure learning and acting speed and memory on this machine.'),
    'train': ('devrobot_world_model.commands.train_command',
              'Train a world model offline from recorded session bags, faster than real time.'),
    'live-view': ('devrobot_jetbot.live_view_command',
                  "Show (or save) a JetBot's live camera feed."),
    'try-action': ('devrobot_jetbot.try_action_command',
                   'Execute one motor command on a JetBot; save the frames before and after.'),
    'import-session': ('devrobot_core.bags.import_session_command',
                       "Convert a session folder of the original system into a session bag."),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog='devrobot', description='devrobot without ROS: simulate, drive, learn, evaluate.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (_, text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not argv or argv[0] not in SUBCOMMANDS:
        args = parser.parse_args(argv)  # prints help or the usage error and exits
        parser.print_help()
        return 2
    name = argv[0]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    command_parser = argparse.ArgumentParser(prog=f'devrobot {name}',
                                             description=SUBCOMMANDS[name][1])
    module.add_arguments(command_parser)
    args = command_parser.parse_args(argv[1:])
    try:
        return int(module.main(args) or 0)
    except UsageError as error:
        print(f'devrobot {name}: error: {error}', file=sys.stderr)
        return 2
    except ConnectionError as error:  # an unreachable robot: said once, no traceback
        print(f'devrobot {name}: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'devrobot {name}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
