"""The key units and results are signed with: HMAC-SHA256, shared by the planner and workers.

Anyone who can write to the Redis a run uses could otherwise steer every worker (a unit
closing a window for ever, filters for any subaccount) or fake a run's results. Every
message on the queue is therefore signed, and a message whose signature does not match is
never acted on.

The key is derived, never used as it is: from ``TWILIO_CONF_INSIGHTS_SIGNING_KEY`` when
set, otherwise from the Twilio secret every process of a run already holds (the auth token
or API secret), with HKDF-SHA256 (RFC 5869) under a fixed label. The derived key says
nothing about the secret, and a different label would give an unrelated key, so signing
never exposes the credential to Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from .._credentials import Credentials
from .._errors import ConfigurationError

__all__ = ["ENV_SIGNING_KEY", "MIN_PASSPHRASE_LENGTH", "SigningKey", "hkdf_sha256"]

#: A key shared by the planner and the workers, instead of one derived from the credentials.
ENV_SIGNING_KEY = "TWILIO_CONF_INSIGHTS_SIGNING_KEY"
#: The shortest key accepted from the environment (``openssl rand -hex 32`` gives 64).
MIN_PASSPHRASE_LENGTH = 32

#: HKDF's salt: what the derived key is for. Changing it makes every key a new one.
_LABEL = b"twilio-conf-insights/distributed/units-and-results/v1"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def hkdf_sha256(secret: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF with SHA-256 (RFC 5869): extract with ``salt``, then expand ``length`` bytes."""
    if not 0 < length <= 255 * hashlib.sha256().digest_size:
        raise ValueError(f"HKDF-SHA256 gives 1 to 8160 bytes, not {length}")
    pseudo_random_key = hmac.digest(salt, secret, "sha256")
    output = b""
    block = b""
    counter = 1
    while len(output) < length:
        block = hmac.digest(pseudo_random_key, block + info + bytes([counter]), "sha256")
        output += block
        counter += 1
    return output[:length]


class SigningKey:
    """The HMAC-SHA256 key of a run's units and results (never shown: not in a repr).

    Every worker and the planner of a run need the same key: build it with
    :meth:`from_env` in each, or with :meth:`from_secret` / :meth:`from_passphrase`.
    :attr:`fingerprint` tells two keys apart without revealing either.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < 32:
            raise ConfigurationError("a signing key is at least 32 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str, *, account_sid: str) -> SigningKey:
        """The key derived from a Twilio auth token or API secret of account ``account_sid``."""
        if not secret:
            raise ConfigurationError("no secret to derive a signing key from")
        info = b"twilio-credentials:" + account_sid.encode()
        return cls(hkdf_sha256(secret.encode(), salt=_LABEL, info=info))

    @classmethod
    def from_passphrase(cls, passphrase: str) -> SigningKey:
        """The key derived from a shared passphrase of at least 32 characters."""
        if len(passphrase) < MIN_PASSPHRASE_LENGTH:
            raise ConfigurationError(
                f"{ENV_SIGNING_KEY} must be at least {MIN_PASSPHRASE_LENGTH} characters "
                f"(it has {len(passphrase)}); e.g. the output of `openssl rand -hex 32`"
            )
        return cls(hkdf_sha256(passphrase.encode(), salt=_LABEL, info=b"passphrase"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SigningKey:
        """``TWILIO_CONF_INSIGHTS_SIGNING_KEY`` when set, else the Twilio credentials' key.

        The credentials are read as :meth:`InsightsClient.from_env` reads them
        (``TWILIO_ACCOUNT_SID`` with ``TWILIO_AUTH_TOKEN``, or with ``TWILIO_API_KEY`` and
        ``TWILIO_API_SECRET``), so processes with the same credentials share a key.
        """
        env = os.environ if environ is None else environ
        passphrase = env.get(ENV_SIGNING_KEY)
        if passphrase:
            return cls.from_passphrase(passphrase)
        given = Credentials.env_arguments(env)
        try:
            credentials = Credentials.resolve(**given)
        except ConfigurationError as error:
            raise ConfigurationError(
                f"units and results are signed with a key derived from the Twilio "
                f"credentials, or from {ENV_SIGNING_KEY}: {error}"
            ) from None
        secret = given["api_secret"] if credentials.uses_api_key else given["auth_token"]
        return cls.from_secret(secret or "", account_sid=credentials.account_sid)

    def sign(self, message: bytes) -> str:
        """The signature of ``message``: 64 lowercase hex digits."""
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, message: bytes, signature: object) -> bool:
        """Whether ``signature`` is this key's signature of ``message`` (constant time)."""
        if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
            return False
        return hmac.compare_digest(self.sign(message), signature)

    @property
    def fingerprint(self) -> str:
        """Eight hex digits naming this key (a worker prints it), saying nothing of it."""
        return self.sign(b"fingerprint")[:8]

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.fingerprint)
