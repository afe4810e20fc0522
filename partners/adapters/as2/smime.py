"""S/MIME (CMS) for AS2: detached signatures, enveloped data, and the MIC.

Signing, encrypting and decrypting use `cryptography`'s public PKCS#7 builders. `cryptography` has no
public API to *verify* a CMS signature, so the SignedData is read with `asn1crypto` (a pure-Python
ASN.1 reader, no OpenSSL of its own) and checked with `cryptography`'s public-key primitives, as
RFC 5652 §5.4 describes: the digest of the content must equal the signed `messageDigest` attribute,
and the signature covers the DER encoding of the signed attributes (tagged as a SET OF).

Why not pyas2lib: see docs/SUPPLIERS.md "Transport" (its oscrypto 1.3.0 cannot read OpenSSL 3.0.x
version strings with a two-digit patch level and fails at import).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

#: RFC 5751 micalg names (and the older spellings partners still send) → hashlib/cryptography names.
MICALGS = {
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "sha384": "sha384",
    "sha-384": "sha384",
    "sha512": "sha512",
    "sha-512": "sha512",
}
#: How we write each digest in `micalg=` and in Received-Content-MIC.
MICALG_NAMES = {"sha1": "sha1", "sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
ENCRYPTIONS = {"aes128-cbc": algorithms.AES128, "aes256-cbc": algorithms.AES256}


class SmimeError(Exception):
    """A CMS structure could not be built or did not check out. `disposition` is the AS2 MDN
    error modifier it maps to (RFC 4130 §7.4.3)."""

    disposition = "unexpected-processing-error"


class DecryptionFailed(SmimeError):
    disposition = "decryption-failed"


class IntegrityCheckFailed(SmimeError):
    """The content does not match what was signed (it was changed on the way)."""

    disposition = "integrity-check-failed"


class AuthenticationFailed(SmimeError):
    """The signature is not by the partner's certificate."""

    disposition = "authentication-failed"


def digest_name(micalg: str) -> str:
    """`sha-256` → `sha256`; raises SmimeError for a digest we do not do."""
    try:
        return MICALGS[micalg.strip().lower()]
    except KeyError:
        raise SmimeError(f"unsupported digest algorithm {micalg!r}") from None


def mic(data: bytes, digest: str) -> str:
    """The Message Integrity Check of RFC 4130 §7.3.1: base64 digest of `data`."""
    return base64.b64encode(hashlib.new(digest, data).digest()).decode("ascii")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise SmimeError(f"not a PEM certificate: {exc}") from None


def load_private_key(pem: str | bytes):
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SmimeError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SmimeError("only RSA and EC private keys can sign AS2 messages")
    return key


def key_matches_certificate(key, certificate: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


# --- Signing -------------------------------------------------------------------------------------


def sign_detached(content: bytes, *, certificate: x509.Certificate, key, digest: str) -> bytes:
    """A detached CMS SignedData (DER) over `content` exactly as given (no canonicalisation)."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, key, _HASHES[digest]())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


@dataclass(frozen=True)
class Verified:
    digest: str  # hashlib name of the signer's digest algorithm


def verify_detached(content: bytes, signature: bytes, *, certificate: x509.Certificate) -> Verified:
    """Check a detached CMS signature over `content` against the partner's certificate.

    Raises IntegrityCheckFailed when the content differs from what was signed, AuthenticationFailed
    when the signature is not by `certificate`'s key, SmimeError when the structure is unreadable.
    """
    signer = _only_signer(signature)
    digest = _signer_digest(signer)
    attrs = signer["signed_attrs"]
    if attrs.native is not None and len(attrs):
        signed_digest = _attribute(attrs, "message_digest")
        if signed_digest is None or signed_digest != hashlib.new(digest, content).digest():
            raise IntegrityCheckFailed("the content does not match the signed message digest")
        covered = b"\x31" + attrs.dump()[1:]  # RFC 5652 §5.4: re-tag [0] IMPLICIT as SET OF
    else:
        covered = content
    _verify_signature(certificate, signer["signature"].native, covered, digest, signer)
    return Verified(digest=digest)


def _only_signer(signature: bytes):
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            raise SmimeError(f"expected CMS signed-data, got {info['content_type'].native}")
        signers = info["content"]["signer_infos"]
        if len(signers) != 1:
            raise SmimeError(f"expected one signer, found {len(signers)}")
        signer = signers[0]
        signer.native  # noqa: B018 - parse fully now, so a malformed structure fails here
    except SmimeError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise SmimeError(f"unreadable CMS signature: {exc}") from None
    return signer


def _signer_digest(signer) -> str:
    name = signer["digest_algorithm"]["algorithm"].native
    if name not in _HASHES:
        raise SmimeError(f"unsupported signature digest {name!r}")
    return name


def _attribute(attrs, name: str):
    for attr in attrs:
        if attr["type"].native == name:
            return attr["values"][0].native
    return None


def _verify_signature(certificate: x509.Certificate, value: bytes, covered: bytes, digest: str, signer) -> None:
    public = certificate.public_key()
    algorithm = signer["signature_algorithm"]["algorithm"].native
    try:
        if isinstance(public, rsa.RSAPublicKey):
            if algorithm == "rsassa_pss":
                raise SmimeError("RSASSA-PSS signatures are not supported; ask the partner for PKCS#1 v1.5")
            public.verify(value, covered, padding.PKCS1v15(), _HASHES[digest]())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, covered, ec.ECDSA(_HASHES[digest]()))
        else:
            raise SmimeError("the partner certificate holds neither an RSA nor an EC key")
    except InvalidSignature:
        raise AuthenticationFailed("the signature was not made with the partner's certificate") from None


# --- Encryption ----------------------------------------------------------------------------------


def encrypt(content: bytes, *, certificate: x509.Certificate, algorithm: str) -> bytes:
    """CMS EnvelopedData (DER) of `content` for the holder of `certificate`."""
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(content)
        .add_recipient(certificate)
        .set_content_encryption_algorithm(ENCRYPTIONS[algorithm])
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def decrypt(enveloped: bytes, *, certificate: x509.Certificate, key) -> bytes:
    """The content of a CMS EnvelopedData addressed to our certificate, or DecryptionFailed."""
    try:
        return pkcs7.pkcs7_decrypt_der(enveloped, certificate, key, [])
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DecryptionFailed(f"cannot decrypt: {exc}") from None


def content_type_of(der: bytes) -> str:
    """`enveloped_data`, `signed_data`, `compressed_data`, ... of a CMS ContentInfo; "" if unreadable."""
    try:
        return cms.ContentInfo.load(der)["content_type"].native or ""
    except (ValueError, TypeError, KeyError):
        return ""
