# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""n8n's ciphers, byte-compatible with n8n-core's ``Cipher`` (private module_utils).

Two formats exist:

* **Legacy / instance-key CBC** (every n8n version; ``credentials_entity.data`` and most
  other secrets): OpenSSL ``Salted__`` framing, AES-256-CBC, key and IV from
  ``EVP_BytesToKey(MD5, 1 round)`` over ``key + salt``; base64. The same bytes
  ``openssl enc -aes-256-cbc -md md5 -a -A -pass pass:<key>`` produces and reads.
  n8n turns the key string into bytes with Node's ``'binary'`` (latin-1) encoding,
  keeping the low byte of each UTF-16 code unit: :func:`key_bytes` does the same.
* **DEK wrapping GCM** (n8n 2.x ``deployment_key`` rows): AES-256-GCM under
  ``sha256(instance key).hexdigest()`` decoded from hex, with HKDF-SHA256
  (info ``n8n-encryption-v1``) deriving key and nonce from a 32-byte salt; layout
  ``version(1) | salt(32) | tag(16) | ciphertext``, base64. The same cipher, keyed with
  a 64-hex data-encryption key, encrypts 2.x values written as ``<keyId>:<ciphertext>``.

All AES work is done by the ``cryptography`` library; nothing here is hand-rolled
except the two key derivations n8n defines and, on the decrypt hot path, the PKCS#7
padding check.
"""

from __future__ import absolute_import, annotations, division, print_function

import base64
import binascii
import hashlib
import os
import re
from typing import Optional, Tuple

__metaclass__ = type

try:
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR: Optional[str] = None
except ImportError as _exc:  # pragma: no cover - depends on the managed host
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = str(_exc)

OPENSSL_MAGIC = b"Salted__"
CBC_SALT_BYTES = 8
GCM_FORMAT_VERSION = 0x01
GCM_HKDF_INFO = b"n8n-encryption-v1"
GCM_SALT_BYTES = 32
GCM_TAG_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_HEADER_BYTES = 1 + GCM_SALT_BYTES + GCM_TAG_BYTES
# n8n-core 2.40 cipher.js KEY_ID_PATTERN; key-manager.service.js RAW_DEK_PATTERN.
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
RAW_DEK_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")


class CipherError(ValueError):
    """A value could not be decrypted (wrong key, corrupted or not n8n ciphertext).

    The message never contains the key or any part of the plaintext.
    """


def require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise CipherError(
            "The Python 'cryptography' library is required on the managed host (%s); "
            "install python3-cryptography or 'pip install cryptography'" % CRYPTOGRAPHY_IMPORT_ERROR
        )


def key_bytes(key: str) -> bytes:
    """The bytes n8n derives from a key string (Node ``Buffer.from(key, 'binary')``)."""
    units = key.encode("utf-16-le")
    return bytes(units[0::2])


def evp_bytes_to_key(password: bytes, salt: bytes) -> Tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey with MD5 and one round: 32-byte key, 16-byte IV."""
    material = password + salt
    d1 = hashlib.md5(material).digest()  # noqa: S324 - n8n's format, not our choice
    d2 = hashlib.md5(d1 + material).digest()  # noqa: S324
    d3 = hashlib.md5(d2 + material).digest()  # noqa: S324
    return d1 + d2, d3


_md5 = hashlib.md5  # n8n's EVP_BytesToKey digest, not our choice


def _b64decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise CipherError("not base64") from exc


def encrypt(plaintext: str, key: str, salt: Optional[bytes] = None) -> str:
    """Encrypt like n8n's ``Cipher.encrypt`` (legacy CBC) with a given key."""
    require_cryptography()
    salt = os.urandom(CBC_SALT_BYTES) if salt is None else salt
    if len(salt) != CBC_SALT_BYTES:
        raise CipherError("salt must be %d bytes" % CBC_SALT_BYTES)
    aes_key, iv = evp_bytes_to_key(key_bytes(key), salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    body = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(OPENSSL_MAGIC + salt + body).decode("ascii")


def cbc_decrypt_raw(data: str, password: bytes) -> bytes:
    """The plaintext bytes of n8n CBC ciphertext under already-derived key bytes.

    ``password`` is :func:`key_bytes` of the key string: callers that decrypt many
    values derive it once. Raises :class:`CipherError` on a wrong key (bad PKCS#7
    padding) or on a value that is not n8n ciphertext. The padding check is done
    here rather than with a ``PKCS7`` unpadder object: same rule, a third less time
    per value, which matters when a key check walks 100k credentials.
    """
    if not HAS_CRYPTOGRAPHY:
        require_cryptography()
    raw = _b64decode(data)
    if len(raw) < 32 or raw[:8] != OPENSSL_MAGIC or len(raw) % 16:
        raise CipherError("not n8n ciphertext (no OpenSSL Salted__ header or bad length)")
    # evp_bytes_to_key() inlined: this runs once per credential in a key check.
    material = password + raw[8:16]
    d1 = _md5(material).digest()
    d2 = _md5(d1 + material).digest()
    decryptor = Cipher(algorithms.AES(d1 + d2), modes.CBC(_md5(d2 + material).digest())).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes((pad,)) * pad:
        raise CipherError("bad decrypt (wrong key or corrupted value)")
    return padded[:-pad]


def decrypt(data: str, key: str) -> str:
    """Decrypt n8n legacy CBC ciphertext; raise :class:`CipherError` on a wrong key.

    A wrong key is caught by the PKCS#7 padding (255 in 256 keys) and otherwise by
    the UTF-8 decoding n8n applies; callers that know the plaintext is JSON should
    also parse it (see ``_key_check``).
    """
    plain = cbc_decrypt_raw(data, key_bytes(key))
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CipherError("bad decrypt (wrong key: plaintext is not UTF-8)") from exc


def dek_wrapping_key(instance_key: str) -> bytes:
    """The 32-byte AES-GCM key n8n 2.x wraps deployment keys with."""
    return bytes.fromhex(hashlib.sha256(instance_key.encode("utf-8")).hexdigest())


def _gcm_key_nonce(key: bytes, salt: bytes) -> Tuple[bytes, bytes]:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32 + GCM_NONCE_BYTES, salt=salt, info=GCM_HKDF_INFO
    ).derive(key)
    return derived[:32], derived[32:]


def gcm_encrypt(plaintext: str, key: bytes, salt: Optional[bytes] = None) -> str:
    """Encrypt like n8n-core's ``CipherAes256GCM.encrypt`` with a raw 32-byte key."""
    require_cryptography()
    salt = os.urandom(GCM_SALT_BYTES) if salt is None else salt
    aes_key, nonce = _gcm_key_nonce(key, salt)
    sealed = AESGCM(aes_key).encrypt(nonce, plaintext.encode("utf-8"), None)
    body, tag = sealed[:-GCM_TAG_BYTES], sealed[-GCM_TAG_BYTES:]
    return base64.b64encode(bytes([GCM_FORMAT_VERSION]) + salt + tag + body).decode("ascii")


def gcm_decrypt_raw(data: str, key: bytes) -> bytes:
    """The plaintext bytes of n8n GCM ciphertext under a raw 32-byte key; :class:`CipherError` if the tag fails."""
    require_cryptography()
    from cryptography.exceptions import InvalidTag

    raw = _b64decode(data)
    if len(raw) < GCM_HEADER_BYTES or raw[0] != GCM_FORMAT_VERSION:
        raise CipherError("not n8n GCM ciphertext (bad length or version)")
    salt = raw[1 : 1 + GCM_SALT_BYTES]
    tag = raw[1 + GCM_SALT_BYTES : GCM_HEADER_BYTES]
    aes_key, nonce = _gcm_key_nonce(key, salt)
    try:
        return AESGCM(aes_key).decrypt(nonce, raw[GCM_HEADER_BYTES:] + tag, None)
    except InvalidTag as exc:
        raise CipherError("bad decrypt (wrong key or corrupted value: GCM tag mismatch)") from exc


def gcm_decrypt(data: str, key: bytes) -> str:
    """Decrypt like n8n-core's ``CipherAes256GCM.decrypt`` (UTF-8 with replacement, as Node does)."""
    return gcm_decrypt_raw(data, key).decode("utf-8", "replace")


def wrap_dek(value: str, instance_key: str, salt: Optional[bytes] = None) -> str:
    """``Cipher.encryptDEKWithInstanceKey``."""
    return gcm_encrypt(value, dek_wrapping_key(instance_key), salt)


def unwrap_dek(data: str, instance_key: str) -> str:
    """``Cipher.decryptDEKWithInstanceKey``."""
    return gcm_decrypt(data, dek_wrapping_key(instance_key))


def split_key_id(data: str) -> Tuple[Optional[str], str]:
    """Split n8n 2.x ``<keyId>:<ciphertext>`` into ``(keyId, ciphertext)``; ``(None, data)`` when unprefixed.

    ``Cipher.decryptV2`` (n8n-core 2.40) treats text before the first colon as a
    data-encryption key id when it matches ``^[A-Za-z0-9_-]{1,36}$``. Base64 has no
    colon, so legacy CBC values are never mistaken for prefixed ones. A colon with
    an invalid id is not n8n ciphertext: :class:`CipherError`.
    """
    head, sep, tail = data.partition(":")
    if not sep:
        return None, data
    if not KEY_ID_PATTERN.match(head):
        raise CipherError("not n8n ciphertext (malformed key-id prefix)")
    return head, tail
