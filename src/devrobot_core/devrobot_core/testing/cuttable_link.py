"""A TCP link that can be cut, for tests and benchmarks of what a lost link does."""

import socket
import threading


class CuttableLink:
    """A TCP forwarder between client and service that can go silent or drop connections.

    `go_silent()` mimics a link lost in the field (WiFi gone, battery flat): no data passes,
    no socket closes, and new connections are refused.
    """

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def go_silent(self):
        self.silent.set()
        self.listener.close()

    def drop_connections(self):
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.sockets.clear()

    def close(self):
        self.go_silent()
        self.drop_connections()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(('127.0.0.1', self.target_port))
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.silent.is_set():
                try:
                    sink.sendall(data)
                except OSError:
                    return
