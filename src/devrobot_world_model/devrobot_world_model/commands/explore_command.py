"""`devrobot explore PATH...`: the session explorer, a local web app on bags or a run folder.

PATH is a session bag, several bags, a folder of bags, or a run folder (its bags, checkpoints
and metrics); a run folder or bag still being written is followed live. The page is served on
http://HOST:PORT/ and needs no network; see docs/explorer.md. Looking changes nothing on disk:
only a training job the page starts writes, into the run folder it names.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys

from devrobot_core.errors import UsageError

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('path', nargs='+', metavar='PATH',
                        help='Session bag(s), a folder of bags, or a run folder.')
    parser.add_argument('--checkpoint', metavar='DIR',
                        help="World-model checkpoint folder or file (default: the run folder's "
                        'checkpoints/, when there is one).')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT,
                        help=f'Port to serve on (default: {DEFAULT_PORT}; 0: any free port).')
    parser.add_argument('--host', default='127.0.0.1',
                        help='Address to serve on (default: 127.0.0.1, this computer only).')
    parser.add_argument('--device', default='cpu',
                        help="Where the model runs: 'cpu' (default), 'cuda', 'auto'.")
    parser.add_argument('--train-out', default='runs/explored', metavar='DIR',
                        help='Run folder the training form offers to save into (default: '
                        'runs/explored).')


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or UsageError when the port is taken or the address is wrong."""
    if not 0 <= port <= 65535:
        raise UsageError(f'--port must be in 0..65535, got {port}')
    try:
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(f'port {port} is in use; choose another with --port (0: any free '
                             'port)') from None
        raise UsageError(f'cannot serve on {host}:{port}: {error.strerror or error}') from None
    return sock


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from devrobot_world_model.explorer.explorer_state import Explorer
    from devrobot_world_model.explorer.server import build_app
    from devrobot_world_model.explorer.sources import resolve

    sources = resolve(args.path, args.checkpoint)
    fatal = []
    server = None

    def stop_with(message: str) -> None:
        fatal.append(message)
        if server is not None:
            server.should_exit = True

    explorer = Explorer(sources, args.device, args.train_out, on_fatal=stop_with)
    sock = bind(args.host, args.port)
    server = uvicorn.Server(uvicorn.Config(build_app(explorer), log_level='warning',
                                           lifespan='off'))
    host, port = sock.getsockname()[:2]
    shown = f'[{host}]' if ':' in host else host
    print(f'devrobot explore: http://{shown}:{port}/ ({len(sources.bags)} bag(s)'
          + (f', watching {sources.run_dir}' if sources.run_dir else '')
          + (f', checkpoint {sources.checkpoint}' if sources.checkpoint else ', no checkpoint')
          + '); Ctrl-C stops', flush=True)
    explorer.start()
    try:
        server.run(sockets=[sock])
    finally:
        explorer.stop()
        sock.close()
    if fatal:
        raise UsageError(fatal[0])
    print('devrobot explore: stopped', file=sys.stderr)
    return 0
