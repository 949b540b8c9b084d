"""A minimal SMTP server (RFC 5321) on 127.0.0.1 for the CI checks that run
their own Petrel relaying to it (awscli-lists-check.py, sesv1-check.py): it
accepts every message and keeps (recipients, message bytes).

    sink = smtpsink.start()       # serving in a thread
    sink.server_address[1]        # its port, for --relay-host
    with sink.lock: sink.messages # [(rcpts, data), …]
    sink.shutdown()
"""

import socket
import socketserver
import threading


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 sink ESMTP")
        rcpts = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-sink\r\n250-8BITMIME\r\n250 SIZE 100000000" if verb == "EHLO" else "250 sink")
            elif verb == "MAIL":
                rcpts = []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = []
                while True:
                    l = self.rfile.readline()
                    if l in (b".\r\n", b".\n", b""):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    data.append(l)
                with self.server.lock:
                    self.server.messages.append((rcpts, b"".join(data)))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start():
    """Starts a sink on a free port of 127.0.0.1, serving in a thread."""
    sink = _Server(("127.0.0.1", 0), _Handler)
    sink.lock = threading.Lock()
    sink.messages = []
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    return sink
