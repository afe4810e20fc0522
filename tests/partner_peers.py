"""Trading partners on loopback for the transport tests: an AS2 station built on OpenSSL's `cms`
command (an S/MIME implementation independent of ours), and an SFTP server (asyncssh, in a thread).

Keys and certificates are made here with `cryptography`, one pair per station."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncssh
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class Identity:
    key_pem: str
    cert_pem: str
    key_path: Path
    cert_path: Path


def make_identity(name: str, folder: Path) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_text(key_pem)
    cert_path.write_text(cert_pem)
    return Identity(key_pem, cert_pem, key_path, cert_path)


def openssl(*args: str, data: bytes = b"") -> bytes:
    done = subprocess.run([OPENSSL, *args], input=data, capture_output=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def split_smime(smime: bytes) -> tuple[dict[str, str], bytes]:
    """OpenSSL's S/MIME output → (its top-level headers, its body)."""
    ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := smime.find(sep)) >= 0]
    index, width = min(ends)
    head, body = smime[:index], smime[index + width :]
    headers = {}
    for line in head.decode().splitlines():
        if line[:1] in (" ", "\t") and headers:
            last = next(reversed(headers))
            headers[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return headers, body


def first_part(multipart_body: bytes, boundary: str) -> bytes:
    """The exact bytes of the first part of a multipart body (what a signature and the MIC cover)."""
    delimiter = b"--" + boundary.encode()
    start = multipart_body.index(delimiter) + len(delimiter)
    start = multipart_body.index(b"\n", start) + 1
    end = multipart_body.index(b"\n" + delimiter, start)
    if multipart_body[end - 1 : end] == b"\r":
        end -= 1
    return multipart_body[start:end]


def boundary_of(content_type: str) -> str:
    for param in content_type.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    raise ValueError(f"no boundary in {content_type}")


class OpenSslAs2Partner:
    """A partner AS2 station: receives our messages over HTTP (decrypts, verifies, answers a signed
    MDN, synchronously or by POSTing it to our MDN URL) and sends us signed and encrypted messages."""

    def __init__(self, folder: Path, *, as2_id: str, our_as2_id: str, our_cert_pem: str) -> None:
        self.folder = folder
        self.as2_id, self.our_as2_id = as2_id, our_as2_id
        self.identity = make_identity(f"partner-{as2_id}", folder)
        self.our_cert_path = folder / "us.crt"
        self.our_cert_path.write_text(our_cert_pem)
        self.received: list[dict] = []
        self.mdns: list[tuple[dict, bytes]] = []
        self.answer_status = 200
        self.async_mdn_url = ""
        self.mdn_disposition = "automatic-action/MDN-sent-automatically; processed"
        self.mic_override: str | None = None  # answer this MIC instead of the one computed
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                if self.path.endswith("/mdn"):  # an asynchronous MDN for a message the partner sent
                    partner.mdns.append((headers, body))
                    status, reply_headers, reply = 200, {}, b""
                else:
                    status, reply_headers, reply = partner.handle(headers, body)
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/as2"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- receiving our messages ----------------------------------------------------------------

    def handle(self, headers: dict, body: bytes):
        if self.answer_status != 200:
            return self.answer_status, {"Content-Type": "text/plain"}, b"partner is down"
        signed = openssl(
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-recip",
            str(self.identity.cert_path),
            "-inkey",
            str(self.identity.key_path),
            "-binary",
            data=body,
        )
        # Text mode (no -binary): OpenSSL reads the multipart as canonical S/MIME, as a mail agent would.
        content = openssl("cms", "-verify", "-CAfile", str(self.our_cert_path), "-purpose", "any", data=signed)
        outer, multipart = split_smime(signed)
        signed_part = first_part(multipart, boundary_of(outer["Content-Type"]))
        mic = base64.b64encode(hashlib.sha256(signed_part).digest()).decode()
        self.received.append({"headers": headers, "content": content, "signed_part": signed_part, "mic": mic})
        mdn_headers, mdn_body = self.mdn(headers["Message-ID"], self.mic_override or mic)
        if "Receipt-Delivery-Option" in headers:
            self.async_mdn_url = headers["Receipt-Delivery-Option"]
            self.pending_mdn = (mdn_headers, mdn_body)
            return 200, {"Content-Type": "text/plain"}, b""
        return 200, mdn_headers, mdn_body

    def mdn(self, original_message_id: str, mic: str) -> tuple[dict, bytes]:
        """A signed MDN made with `openssl cms -sign` (text mode: canonical CRLF)."""
        report = (
            'Content-Type: multipart/report; report-type=disposition-notification; boundary="rpt"\r\n\r\n'
            "--rpt\r\nContent-Type: text/plain\r\n\r\nReceived.\r\n"
            "--rpt\r\nContent-Type: message/disposition-notification\r\n\r\n"
            f"Reporting-UA: openssl-partner\r\nOriginal-Recipient: rfc822; {self.as2_id}\r\n"
            f"Final-Recipient: rfc822; {self.as2_id}\r\nOriginal-Message-ID: {original_message_id}\r\n"
            f"Received-Content-MIC: {mic}, sha-256\r\nDisposition: {self.mdn_disposition}\r\n"
            "--rpt--\r\n"
        ).encode()
        smime = openssl(
            "cms",
            "-sign",
            "-signer",
            str(self.identity.cert_path),
            "-inkey",
            str(self.identity.key_path),
            "-md",
            "sha256",
            data=report,
        )
        top, body = split_smime(smime)
        headers = {
            "AS2-Version": "1.2",
            "AS2-From": self.as2_id,
            "AS2-To": self.our_as2_id,
            "Message-ID": f"<mdn-{hashlib.md5(original_message_id.encode()).hexdigest()}@partner>",
            "Content-Type": top["Content-Type"],
        }
        return headers, body

    # --- sending us messages -------------------------------------------------------------------

    def build(
        self,
        payload: bytes,
        *,
        message_id: str,
        tamper: bytes | None = None,
        encrypt_for: Path | None = None,
        mdn: str = "sync",
        receipt_url: str = "",
    ) -> tuple[dict, bytes]:
        """A signed (binary: bytes kept exact) and encrypted AS2 message, as headers and body."""
        entity = b'Content-Type: application/edi-x12\r\nContent-Disposition: attachment; filename="asn.x12"\r\n\r\n'
        signed = openssl(
            "cms",
            "-sign",
            "-binary",
            "-signer",
            str(self.identity.cert_path),
            "-inkey",
            str(self.identity.key_path),
            "-md",
            "sha256",
            data=entity + payload,
        )
        if tamper is not None:
            old, new = tamper
            assert old in signed
            signed = signed.replace(old, new, 1)
        enveloped = openssl(
            "cms",
            "-encrypt",
            "-binary",
            "-aes256",
            "-outform",
            "DER",
            str(encrypt_for or self.our_cert_path),
            data=signed,
        )
        top, multipart = split_smime(signed)
        self.sent_mic = base64.b64encode(
            hashlib.sha256(first_part(multipart, boundary_of(top["Content-Type"]))).digest()
        ).decode()
        headers = {
            "AS2-Version": "1.2",
            "AS2-From": self.as2_id,
            "AS2-To": self.our_as2_id,
            "Message-ID": message_id,
            "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
            "Disposition-Notification-To": "edi@partner.example",
            "Disposition-Notification-Options": (
                "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256"
            ),
        }
        if mdn == "async":
            headers["Receipt-Delivery-Option"] = receipt_url
        return headers, enveloped

    def verify_mdn(self, headers: dict, body: bytes) -> bytes:
        """Check our MDN with OpenSSL against our certificate; returns the report it covers."""
        content_type = next(v for k, v in headers.items() if k.lower() == "content-type")
        smime = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode() + body
        return openssl("cms", "-verify", "-CAfile", str(self.our_cert_path), "-purpose", "any", data=smime)


# --- SFTP ----------------------------------------------------------------------------------------


class SftpServer:
    """An SFTP server on loopback serving `root` (chrooted) to one user with a password.

    `drop_on_read` (a file name) makes the server cut the connection in the middle of reading that
    file, once; `drop_on_remove` cuts it when that file is about to be removed, once."""

    def __init__(self, root: Path, *, username: str = "partner", password: str = "s3cret") -> None:
        self.root, self.username, self.password = root, username, password
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.drop_on_read: str | None = None
        self.drop_on_remove: str | None = None
        self.drop_on_write: str | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.acceptor = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.port = self.acceptor.sockets[0].getsockname()[1]

    @property
    def public_key(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    async def _start(self):
        server = self

        class Auth(asyncssh.SSHServer):
            def begin_auth(self, username):
                return True

            def password_auth_supported(self):
                return True

            def validate_password(self, username, password):
                return username == server.username and password == server.password

        class Files(asyncssh.SFTPServer):
            def __init__(self, chan):
                super().__init__(chan, chroot=str(server.root).encode())

            def _drop(self):
                self.channel.get_connection().abort()
                raise asyncssh.SFTPConnectionLost("dropped by the test")

            def read(self, file_obj, offset, size):
                name = Path(os.fsdecode(file_obj.name)).name
                if server.drop_on_read and name == server.drop_on_read:
                    server.drop_on_read = None
                    self._drop()
                return super().read(file_obj, offset, size)

            def write(self, file_obj, offset, data):
                name = Path(os.fsdecode(file_obj.name)).name
                if server.drop_on_write and server.drop_on_write in name:
                    server.drop_on_write = None
                    super().write(file_obj, offset, data[: len(data) // 2])
                    self._drop()
                return super().write(file_obj, offset, data)

            def remove(self, path):
                if server.drop_on_remove and Path(path.decode()).name == server.drop_on_remove:
                    server.drop_on_remove = None
                    self._drop()
                return super().remove(path)

        return await asyncssh.create_server(
            Auth, "127.0.0.1", 0, server_host_keys=[self.host_key], sftp_factory=Files, allow_scp=False
        )

    def close(self) -> None:
        async def stop():
            self.acceptor.close()
            await self.acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class DjangoServer:
    """This project served over real HTTP on loopback (a threaded WSGI server in this process), for
    partners that call us. Use with `committed_db`: the server's threads have their own connections."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, WSGIHandler(), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
