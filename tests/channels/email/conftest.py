"""Real parts of the e-mail reply tests: an IMAP server (pymap), TLS in front of it."""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch
from kasatka.channels.email.channel import message_id_for
from kasatka.channels.email.imap import mailbox_name
from kasatka.channels.models import ProviderAccount
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.smtp import free_port

USER = "replies@kedr.example"
PASSWORD = "imap-S3cret"


@pytest.fixture(autouse=True)
def our_message_ids(settings):
    """The sample replies answer Message-IDs of this domain."""
    settings.KASATKA_MESSAGE_ID_DOMAIN = "kasatka.local"


class ImapServer:
    """pymap's in-memory IMAP server in a subprocess, with one mailbox user."""

    def __init__(self, cert: Path | None = None, key: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        tls = ["--cert", str(cert), "--key", str(key)] if cert and key else ["--no-tls"]
        command = [
            sys.executable, "-c", "import sys; from pymap.main import main; sys.exit(main())",
            "--no-service", "admin", "--host", self.host, "--port", str(self.port), *tls,
            "dict", "--demo-user", USER, "--demo-password", PASSWORD,
        ]
        # FQDN: pymap's greeting would otherwise ask the resolver for this host's name.
        env = {**os.environ, "FQDN": "imap.kedr.example"}
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    raise RuntimeError(f"pymap did not start: {error}") from None
                time.sleep(0.05)

    def options(self, **more) -> dict:
        """A ProviderAccount's options for this server."""
        return {"host": self.host, "port": self.port, "ssl": False, "username": USER, **more}

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in a folder, as the mail server's delivery agent would."""
        with self.client() as imap:
            status, _ = imap.append(mailbox_name(folder), "", imaplib.Time2Internaldate(
                time.time()), raw)
            assert status == "OK"

    def create(self, folder: str) -> None:
        with self.client() as imap:
            assert imap.create(mailbox_name(folder))[0] == "OK"

    def uids(self, folder: str = "INBOX", criterion: str = "ALL") -> list[str]:
        with self.client() as imap:
            status, _ = imap.select(mailbox_name(folder), readonly=True)
            assert status == "OK"
            _, data = imap.uid("SEARCH", criterion)
            return (data[0] or b"").decode().split()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    server = ImapServer()
    yield server
    server.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem doubles as the CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imap.kedr.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path


@pytest.fixture
def starttls_server(certificate) -> Iterator[ImapServer]:
    """pymap offering STARTTLS with the test certificate."""
    server = ImapServer(*certificate)
    yield server
    server.stop()


class TlsFront:
    """Implicit TLS (port 993 style) in front of a plain IMAP server: pymap speaks only
    STARTTLS, so this terminates TLS and relays the bytes, as stunnel or a proxy would."""

    def __init__(self, backend: ImapServer, cert: Path, key: Path) -> None:
        self.backend = backend
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(10)
            try:
                client = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            client.settimeout(None)
            backend = socket.create_connection((self.backend.host, self.backend.port))
            for source, target in ((client, backend), (backend, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.close()
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def tls_front(imap_server, certificate) -> Iterator[TlsFront]:
    front = TlsFront(imap_server, *certificate)
    yield front
    front.stop()


# --- a shop that mails its clients and takes their replies ------------------------------
class Mailing:
    """The shop, Anna with consent to e-mail, a two-step chain that ends on a reply, and
    the shop's e-mail account; touches go out through the real engine and SMTP server."""

    def __init__(self, shop, clock, smtp, provider: str, options: dict, password: str):
        self.shop, self.clock, self.smtp = shop, clock, smtp
        self.account = ProviderAccount(
            business=shop, channel="email", provider=provider, name="replies",
            options=options,
        )
        self.account.set_secrets({"password": password} if password else {})
        self.account.save()
        self.anna = builders.contact(shop, email="anna@example.com")
        self.chain = builders.chain(shop, [{}, {}])
        self.chain.exit_on_reply = True
        self.chain.save()

    def run(self):
        Worker(EngineConfig.from_settings(retry_base_seconds=60), clock=self.clock).run(
            once=True
        )

    def send(self, contact=None):
        """Enroll the contact (Anna) and let the engine send the first step."""
        contact = contact or self.anna
        enroll(contact, self.chain, self.clock.now())
        self.run()
        return Touch.objects.filter(contact=contact).latest("id")

    def message_id(self, touch) -> str:
        """The Message-ID the SMTP server saw on the touch's e-mail."""
        expected = message_id_for(touch.idempotency_key)
        assert expected in self.smtp.message_ids, "the touch went out by SMTP"
        return expected


@pytest.fixture
def mailing_with(shop, clock, smtp, settings):
    settings.KASATKA_BASE_URL = "http://testserver"

    def make(provider: str = "inbound", options: dict | None = None, password: str = ""):
        return Mailing(shop, clock, smtp, provider, options or {}, password)

    return make
