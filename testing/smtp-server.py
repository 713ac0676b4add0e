#!/usr/bin/python3
"""A real SMTP server for the tests: aiosmtpd (Debian's python3-aiosmtpd).

Writes every message it accepts as one JSON line to --out. With --user and
--password it requires AUTH (PLAIN/LOGIN; with --auth-require-tls only after
STARTTLS, as most servers do); with --cert and --key it offers
and requires STARTTLS (or, with --implicit, speaks TLS from the first byte).
Prints "ready" once it listens.
"""
import argparse
import json
import ssl
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Save:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "data": envelope.content.decode("utf8", "replace"),
        }
        with open(self.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit", action="store_true", help="TLS from the first byte (SMTPS) instead of STARTTLS")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--auth-require-tls", action="store_true",
                   help="offer AUTH only after STARTTLS, as most servers do (Postfix's smtpd_tls_auth_only)")
    a = p.parse_args()
    kwargs = {}
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.implicit:
            kwargs.update(ssl_context=ctx)
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)
    if a.user:
        def authenticate(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == a.user and data.password.decode() == a.password
            return AuthResult(success=ok)

        # With implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS as "TLS".
        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=a.auth_require_tls or (bool(a.cert) and not a.implicit))
    controller = Controller(Save(a.out), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
