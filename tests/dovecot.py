"""A real Dovecot IMAP server on loopback, with its own config in a temp dir (no systemd).

Installed by scripts/test (Debian package dovecot-imapd). Messages are put in
with IMAP APPEND, as a mail client would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

from tests.servers import free_port

__all__ = ["Dovecot"]

_CONFIG = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{tmp}/mail/%u
first_valid_uid = 5000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """One Dovecot instance: start, stop, restart, and a client to load mail."""

    user = "coach"
    password = "dovecot-test-password"

    def __init__(
        self,
        *,
        tls: bool = False,
        oauth2_introspection_url: str = "",
        extra_users: tuple[str, ...] = (),
    ) -> None:
        # Not pytest's tmp_path: its ancestors are 0700 and Dovecot's auth process
        # (user dovecot) must traverse to the users file. Only test credentials live here.
        root = Path(tempfile.mkdtemp(prefix="gallra-dovecot-"))
        root.chmod(0o755)
        self.root = root
        self.port = free_port()
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.tls_port = free_port()
        config = _CONFIG.format(tmp=root, port=self.port)
        self.ca_file: Path | None = None
        if tls:
            self.ca_file = self._make_certificate()
            config = config.replace(
                "ssl = no\n",
                (f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"),
            ).replace(
                "  inet_listener imaps {\n    port = 0\n",
                (
                    "  inet_listener imaps {\n    address = 127.0.0.1\n"
                    f"    port = {self.tls_port}\n"
                ),
            )
        if oauth2_introspection_url:
            # XOAUTH2/OAUTHBEARER: Dovecot asks this URL whether a token is active.
            (root / "oauth2.conf.ext").write_text(
                f"introspection_url = {oauth2_introspection_url}\nintrospection_mode = post\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            )
            config = config.replace(
                "auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2 oauthbearer"
            ).replace(
                "passdb {",
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {root}/oauth2.conf.ext\n}}\npassdb {{",
                1,
            )
        (root / "dovecot.conf").write_text(config)
        users = root / "users"
        self.users = (self.user, *extra_users)  # each with the same test password
        users.write_text(
            "".join(
                f"{name}:{{PLAIN}}{self.password}:5000:5000::{root}/mail/{name}\n"
                for name in self.users
            )
        )
        os.chown(root / "mail", 5000, 5000)
        shutil.chown(users, group="dovecot")
        users.chmod(0o640)
        self.pid: int | None = None

    def _make_certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1 and localhost; returns its PEM (the CA)."""
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.root / "cert.pem"),
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self.root / "cert.pem"

    def start(self) -> None:
        """Start and wait until the port answers."""
        subprocess.run(["dovecot", "-c", str(self.root / "dovecot.conf")], check=True, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            try:
                with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=2) as client:
                    client.capabilities()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError((self.root / "dovecot.log").read_text()[-2000:]) from None
                time.sleep(0.05)
        self.pid = int((self.root / "run" / "master.pid").read_text())

    def stop(self) -> None:
        """Stop like a real restart: the master and every process serving a client."""
        if self.pid is None:
            return
        children = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in [self.pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.pid = None

    def remove(self) -> None:
        """Stop and delete the whole directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self, user: str | None = None) -> IMAPClient:
        """A logged-in client for loading test mail (the first user unless named)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user or self.user, self.password)
        return client

    def append(self, folder: str, messages: list[bytes], *, user: str | None = None) -> None:
        """APPEND messages to a folder (created if missing)."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for message in messages:
                client.append(folder, message)

    def recreate(self, folder: str) -> None:
        """Delete and recreate a folder, emptied: its UIDVALIDITY changes."""
        with self.client() as client:
            client.delete_folder(folder)
            client.create_folder(folder)

    def count(self, folder: str, *, user: str | None = None) -> int:
        """Messages in a folder."""
        with self.client(user) as client:
            return int(client.select_folder(folder, readonly=True)[b"EXISTS"])
