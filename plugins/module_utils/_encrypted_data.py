# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where n8n keeps values encrypted with (or derived from) the instance encryption key.

This is a private module_utils: the registry below is data, read by the key check
(``_key_check``) and meant for key rotation too. Every entry was read in the installed
source of n8n 1.123.81, 2.38.7 and 2.40.7 (the file is named in ``source``) and checked
against databases those versions created; docs/encrypted-data.md is the same inventory
as a table, with what a key rotation must do for each location.

Formats (how a value is encrypted):

* ``v2``: written by ``Cipher.encryptV2`` (2.x) or ``Cipher.encrypt`` (1.x). Either the
  legacy OpenSSL ``Salted__`` AES-256-CBC base64 under the instance key (on 2.x, under
  the stored legacy data-encryption key, which n8n seeds with the instance key), or,
  on 2.x with ``N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION=true``, ``<keyId>:<ciphertext>``
  under the data-encryption key (DEK) ``deployment_key.id = keyId`` (AES-256-GCM for
  ``aes-256-gcm`` DEKs). 1.x never writes the prefixed form.
* ``cbc``: ``Cipher.encryptWithInstanceKey``: always legacy CBC under the instance key.
* ``deployment_key``: one ``deployment_key`` row; the format depends on its ``type``
  and ``algorithm`` (see :func:`deployment_key_kind`).
* ``jwt_hs256``: not encrypted but signed with a secret derived from the key (API keys).

Containers (where the ciphertext sits in the row): the whole column; a TypeORM
``simple-array`` column (comma-separated ciphertexts); or a string inside a JSON column
(``json_path``), for ``settings`` rows selected by their ``key``.
"""

from __future__ import absolute_import, annotations, division, print_function

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

__metaclass__ = type

V1 = "1.123.81"
V2_38 = "2.38.7"
V2_40 = "2.40.7"
ALL_VERSIONS = (V1, V2_38, V2_40)
V2_VERSIONS = (V2_38, V2_40)

# Formats.
FORMAT_V2 = "v2"
FORMAT_CBC = "cbc"
FORMAT_DEPLOYMENT_KEY = "deployment_key"
FORMAT_JWT = "jwt_hs256"
FORMATS = (FORMAT_V2, FORMAT_CBC, FORMAT_DEPLOYMENT_KEY, FORMAT_JWT)

# What the plaintext must look like for a value to count as decrypted.
PAYLOAD_JSON = "json"  # parses as JSON (credentials, settings objects)
PAYLOAD_TEXT = "text"  # UTF-8 without control characters other than tab/newline (secrets, PEM keys)
PAYLOAD_KEY = "key"  # a deployment key: per row, see deployment_key_kind()
PAYLOAD_SIGNATURE = "signature"  # the signature verifies
PAYLOADS = (PAYLOAD_JSON, PAYLOAD_TEXT, PAYLOAD_KEY, PAYLOAD_SIGNATURE)

CONTAINER_COLUMN = "column"
CONTAINER_SIMPLE_ARRAY = "simple_array"
CONTAINER_JSON = "json"
CONTAINERS = (CONTAINER_COLUMN, CONTAINER_SIMPLE_ARRAY, CONTAINER_JSON)

# Categories, in the order reports list them. ``api_keys`` is opt-in (see its entry).
CATEGORIES = (
    "credentials",
    "deployment_keys",
    "mfa",
    "settings",
    "external_secrets",
    "dynamic_credentials",
    "git_connections",
    "promotions",
    "api_keys",
)

# What a key rotation has to do with a location.
ROTATE_REENCRYPT = "re-encrypt"  # decrypt with the old key, encrypt with the new one
ROTATE_REWRAP = "re-wrap"  # unwrap with sha256(old key), wrap with sha256(new key); the plaintext stays
ROTATE_NOTHING = "nothing"  # not bound to the instance key
ROTATE_RESIGN = "re-sign or pin the secret"


@dataclass(frozen=True)
class EncryptedLocation:
    """One place in n8n's database that holds values bound to the instance key."""

    name: str  # unique, "<table>.<column>[#<settings key>/<json path>]"
    category: str
    table: str  # n8n's table name without DB_TABLE_PREFIX
    column: str
    id_columns: Tuple[str, ...]  # the primary key: reported for failures, used to page through the table
    format: str
    payload: str
    versions: Tuple[str, ...]  # pinned versions whose schema and code have this location
    source: str  # the n8n file(s) that write and read it (path inside node_modules)
    empty: str  # how an absent value looks (never counted as ok or failed)
    rotation: str  # ROTATE_*
    rotation_note: str = ""
    container: str = CONTAINER_COLUMN
    settings_key: Optional[str] = None  # for table "settings": the row's key
    json_path: Tuple[str, ...] = ()  # for CONTAINER_JSON: keys down to the ciphertext
    label_column: Optional[str] = None  # a safe, human name reported with failures (never a value)
    default: bool = True  # checked unless categories are chosen explicitly

    @property
    def columns(self) -> Tuple[str, ...]:
        """Every column the check reads, id columns first."""
        cols = list(self.id_columns)
        for extra in (self.label_column, "key" if self.settings_key else None, self.column):
            if extra and extra not in cols:
                cols.append(extra)
        return tuple(cols)


def _settings(
    name: str, key: str, path: Tuple[str, ...], *, fmt: str, payload: str, versions: Tuple[str, ...], source: str, **kw: str
) -> EncryptedLocation:
    return EncryptedLocation(
        name=name,
        category=kw.pop("category", "settings"),
        table="settings",
        column="value",
        id_columns=("key",),
        format=fmt,
        payload=payload,
        versions=versions,
        source=source,
        container=CONTAINER_JSON if path else CONTAINER_COLUMN,
        settings_key=key,
        json_path=path,
        empty=kw.pop("empty", "no settings row, or the field missing, null or ''"),
        rotation=kw.pop("rotation", ROTATE_REENCRYPT),
        rotation_note=kw.pop("rotation_note", ""),
    )


_SC_1 = "n8n/dist/environments.ee/source-control/source-control-preferences.service.ee.js"
_SC_2 = "n8n/dist/modules/source-control.ee/source-control-preferences.service.ee.js"
_V2_NOTE = (
    "unprefixed values: re-encrypt under the new key; '<keyId>:' values are under a data-encryption key "
    "and only need their deployment_key row re-wrapped"
)

LOCATIONS: Tuple[EncryptedLocation, ...] = (
    # ------------------------------------------------------------------ credentials
    EncryptedLocation(
        name="credentials_entity.data",
        category="credentials",
        table="credentials_entity",
        column="data",
        id_columns=("id",),
        label_column="name",
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=ALL_VERSIONS,
        # n8n-core/dist/credentials.js (Credentials.setData/getData: cipher.encrypt on 1.x,
        # encryptV2/decryptV2 on 2.x); n8n-core/dist/encryption/cipher.js.
        source="n8n-core/dist/credentials.js; n8n-core/dist/encryption/cipher.js",
        empty="never empty: n8n always stores an encrypted object ('{}' encrypted at least)",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    # ------------------------------------------------------------- deployment keys
    EncryptedLocation(
        name="deployment_key.value",
        category="deployment_keys",
        table="deployment_key",
        column="value",
        id_columns=("id",),
        label_column="type",
        format=FORMAT_DEPLOYMENT_KEY,
        payload=PAYLOAD_KEY,
        versions=V2_VERSIONS,
        # @n8n/db/dist/repositories/deployment-key.repository.js (signing secrets, 2.40: wrapped;
        # 2.38: plaintext); n8n/dist/encryption/key-manager.service.js (2.40) and
        # n8n/dist/modules/encryption-key-manager/key-manager.service.js (2.38: data_encryption);
        # n8n/dist/modules/oauth-jwe/oauth-jwe-key.service.js (jwe.private-key, CBC);
        # n8n-core/dist/instance-settings/instance-settings.js (instance.id, signing.hmac);
        # n8n/dist/services/jwt.service.js (signing.jwt); n8n-core/dist/binary-data/binary-data.config.js.
        source=(
            "@n8n/db/dist/repositories/deployment-key.repository.js; n8n/dist/encryption/key-manager.service.js; "
            "n8n/dist/modules/encryption-key-manager/key-manager.service.js (2.38); "
            "n8n/dist/modules/oauth-jwe/oauth-jwe-key.service.js; n8n-core/dist/instance-settings/instance-settings.js; "
            "n8n/dist/services/jwt.service.js; n8n-core/dist/binary-data/binary-data.config.js"
        ),
        empty="rows with algorithm NULL are plaintext (instance.id; signing.* before 2.40): skipped",
        rotation=ROTATE_REWRAP,
        rotation_note=(
            "GCM-wrapped rows (data_encryption, signing.*): re-wrap under sha256(new key); the aes-256-cbc "
            "data_encryption row wraps the old instance key itself and must end up wrapping the new key once "
            "every unprefixed value is re-encrypted; jwe.private-key rows: re-encrypt (CBC); plaintext rows: nothing"
        ),
    ),
    # --------------------------------------------------------------------- MFA
    EncryptedLocation(
        name="user.mfaSecret",
        category="mfa",
        table="user",
        column="mfaSecret",
        id_columns=("id",),
        format=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        # n8n/dist/mfa/mfa.service.js (encryptSecretAndRecoveryCodes / decryptSecretAndRecoveryCodes).
        source="n8n/dist/mfa/mfa.service.js; @n8n/db/dist/entities/user.js",
        empty="NULL or '' (MFA never enabled)",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    EncryptedLocation(
        name="user.mfaRecoveryCodes",
        category="mfa",
        table="user",
        column="mfaRecoveryCodes",
        id_columns=("id",),
        container=CONTAINER_SIMPLE_ARRAY,
        format=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        # n8n/dist/mfa/mfa.service.js; the column is TypeORM 'simple-array' (comma-joined).
        source="n8n/dist/mfa/mfa.service.js; @n8n/db/dist/entities/user.js",
        empty="'' (empty simple-array)",
        rotation=ROTATE_REENCRYPT,
        rotation_note="each comma-separated code separately; " + _V2_NOTE,
    ),
    # ---------------------------------------------------------------- settings
    _settings(
        "settings.value#features.ldap/bindingAdminPassword",
        "features.ldap",
        ("bindingAdminPassword",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        # 1.x n8n/dist/ldap.ee/ldap.service.ee.js; 2.x n8n/dist/modules/ldap.ee/ldap.service.ee.js
        # (the key is @n8n/constants LDAP_FEATURE_NAME). n8n creates the row on first start with ''.
        source="n8n/dist/ldap.ee/ldap.service.ee.js (1.x); n8n/dist/modules/ldap.ee/ldap.service.ee.js (2.x)",
        empty="'' (created that way on first start)",
    ),
    _settings(
        "settings.value#features.sourceControl.sshKeys/encryptedPrivateKey",
        "features.sourceControl.sshKeys",
        ("encryptedPrivateKey",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        # Written by the MoveSshKeysToDatabase migration (@n8n/db/dist/migrations/common/
        # 1711390882123-MoveSshKeysToDatabase.js) and by source control; 1.123.81 creates it on first start.
        source=_SC_1 + " (1.x); " + _SC_2 + " (2.x); @n8n/db/dist/migrations/common/1711390882123-MoveSshKeysToDatabase.js",
    ),
    _settings(
        "settings.value#features.sourceControl.httpsCredentials/encryptedUsername",
        "features.sourceControl.httpsCredentials",
        ("encryptedUsername",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        source=_SC_1 + " (1.x); " + _SC_2 + " (2.x)",
    ),
    _settings(
        "settings.value#features.sourceControl.httpsCredentials/encryptedPassword",
        "features.sourceControl.httpsCredentials",
        ("encryptedPassword",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        source=_SC_1 + " (1.x); " + _SC_2 + " (2.x)",
    ),
    _settings(
        "settings.value#features.oidc/clientSecret",
        "features.oidc",
        ("clientSecret",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=ALL_VERSIONS,
        # 1.x n8n/dist/sso.ee/oidc/oidc.service.ee.js; 2.x n8n/dist/modules/sso-oidc/oidc.service.ee.js and
        # n8n/dist/instance-settings-loader/loaders/sso/oidc.instance-settings-loader.js.
        source="n8n/dist/sso.ee/oidc/oidc.service.ee.js (1.x); n8n/dist/modules/sso-oidc/oidc.service.ee.js, "
        "n8n/dist/instance-settings-loader/loaders/sso/oidc.instance-settings-loader.js (2.x)",
    ),
    _settings(
        "settings.value#features.saml/signingPrivateKey",
        "features.saml",
        ("signingPrivateKey",),
        fmt=FORMAT_V2,
        payload=PAYLOAD_TEXT,
        versions=V2_VERSIONS,
        # n8n/dist/modules/sso-saml/saml.service.ee.js: a value that is not a valid PEM key is stored
        # as given (plaintext); the check reports such values as skipped "plaintext".
        source="n8n/dist/modules/sso-saml/saml.service.ee.js",
    ),
    _settings(
        "settings.value#feature.externalSecrets",
        "feature.externalSecrets",
        (),
        fmt=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=ALL_VERSIONS,
        # 1.x n8n/dist/modules/external-secrets.ee/external-secrets-manager.ee.js; 2.x
        # n8n/dist/modules/external-secrets.ee/settings-store.service.js. The 2.x migration
        # 1771500000000-MigrateExternalSecretsToEntityStorage copies it to secrets_provider_connection
        # and keeps this row.
        source="n8n/dist/modules/external-secrets.ee/external-secrets-manager.ee.js (1.x); "
        "n8n/dist/modules/external-secrets.ee/settings-store.service.js (2.x)",
        category="external_secrets",
        empty="no settings row",
    ),
    _settings(
        "settings.value#credentialsOverwrite",
        "credentialsOverwrite",
        (),
        fmt=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=ALL_VERSIONS,
        # n8n/dist/credentials-overwrites.js (only with CREDENTIALS_OVERWRITE_PERSISTENCE).
        source="n8n/dist/credentials-overwrites.js",
        empty="no settings row (overwrite persistence off)",
    ),
    # ------------------------------------------------------- external secrets (2.x)
    EncryptedLocation(
        name="secrets_provider_connection.encryptedSettings",
        category="external_secrets",
        table="secrets_provider_connection",
        column="encryptedSettings",
        id_columns=("id",),
        label_column="providerKey",
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=V2_VERSIONS,
        source=(
            "n8n/dist/modules/external-secrets.ee/secrets-providers-connections.service.ee.js; "
            "@n8n/db/dist/migrations/common/1771500000000-MigrateExternalSecretsToEntityStorage.js"
        ),
        empty="no rows (no provider connected)",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    # ------------------------------------------------------ dynamic credentials (2.x)
    EncryptedLocation(
        name="dynamic_credential_resolver.config",
        category="dynamic_credentials",
        table="dynamic_credential_resolver",
        column="config",
        id_columns=("id",),
        label_column="name",
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=V2_VERSIONS,
        source=(
            "n8n/dist/modules/dynamic-credentials.ee/services/credential-resolver.service.js; "
            "n8n/dist/modules/dynamic-credentials.ee/services/n8n-resolver-seeder.service.js"
        ),
        empty="no rows",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    EncryptedLocation(
        name="dynamic_credential_entry.data",
        category="dynamic_credentials",
        table="dynamic_credential_entry",
        column="data",
        id_columns=("credential_id", "subject_id", "resolver_id"),
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=V2_VERSIONS,
        source=(
            "n8n/dist/modules/dynamic-credentials.ee/credential-resolvers/{n8n,oauth,slack}-credential-resolver.js; "
            "n8n/dist/modules/dynamic-credentials.ee/services/dynamic-credential-storage.service.js"
        ),
        empty="no rows",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    EncryptedLocation(
        name="dynamic_credential_user_entry.data",
        category="dynamic_credentials",
        table="dynamic_credential_user_entry",
        column="data",
        id_columns=("credentialId", "userId", "resolverId"),
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=V2_VERSIONS,
        source=(
            "n8n/dist/modules/dynamic-credentials.ee/credential-resolvers/*.js; "
            "n8n/dist/modules/dynamic-credentials.ee/services/credential-connection-status.service.js"
        ),
        empty="no rows",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    # ---------------------------------------------------------- git connections (2.38)
    *(
        EncryptedLocation(
            name="git_connection.%s" % column,
            category="git_connections",
            table="git_connection",
            column=column,
            id_columns=("id",),
            label_column="name",
            format=FORMAT_V2,
            payload=PAYLOAD_TEXT,
            versions=(V2_38,),
            # Removed again in 2.40 (no git_connection table there).
            source="n8n/dist/modules/git-connections.ee/git-connections.service.js (2.38)",
            empty="NULL (the other connection type)",
            rotation=ROTATE_REENCRYPT,
            rotation_note=_V2_NOTE,
        )
        for column in ("encryptedPrivateKey", "encryptedUsername", "encryptedPassword")
    ),
    # ---------------------------------------------------------------- promotions (2.40)
    EncryptedLocation(
        name="promotion_provider.auth",
        category="promotions",
        table="promotion_provider",
        column="auth",
        id_columns=("id",),
        label_column="name",
        format=FORMAT_V2,
        payload=PAYLOAD_JSON,
        versions=(V2_40,),
        source="n8n/dist/modules/promotions.ee/promotion-providers.service.js",
        empty="no rows",
        rotation=ROTATE_REENCRYPT,
        rotation_note=_V2_NOTE,
    ),
    # ------------------------------------------------------------- API keys (opt-in)
    EncryptedLocation(
        name="user_api_keys.apiKey",
        category="api_keys",
        table="user_api_keys",
        column="apiKey",
        id_columns=("id",),
        label_column="label",
        format=FORMAT_JWT,
        payload=PAYLOAD_SIGNATURE,
        versions=ALL_VERSIONS,
        # n8n/dist/services/jwt.service.js: HS256 secret = sha256(every other character of the key)
        # as hex, unless N8N_USER_MANAGEMENT_JWT_SECRET is set; 2.x persists it as deployment_key
        # 'signing.jwt'. Opt-in: with a custom JWT secret on 1.x every key would look wrong.
        source="n8n/dist/services/jwt.service.js; n8n/dist/services/public-api-key.service.js",
        empty="keys that are not JWTs (older n8n_api_* keys): skipped",
        rotation=ROTATE_RESIGN,
        rotation_note=(
            "1.x derives the JWT secret from the key: a new key invalidates every API key and session unless "
            "N8N_USER_MANAGEMENT_JWT_SECRET pins the old secret; 2.x keeps it in deployment_key 'signing.jwt'"
        ),
        default=False,
    ),
)

# ---------------------------------------------------------------- deployment_key rows
# Types n8n writes, and how their value is stored (2.38.7 / 2.40.7, measured on first start:
# 2.38.7 creates instance.id, signing.hmac, signing.jwt, signing.binary_data, all plaintext;
# 2.40.7 wraps the signing.* rows with the key and adds two data_encryption rows).
DK_PLAINTEXT = "plaintext"  # algorithm NULL: not bound to the key
DK_WRAPPED_SECRET = "wrapped_secret"  # noqa: S105 - a kind name, not a secret; GCM under sha256(key), any text inside
DK_WRAPPED_DEK = "wrapped_dek"  # data_encryption: GCM-wrapped (or a legacy form, see below)
DK_CBC_JSON = "cbc_json"  # jwe.private-key: CBC under the instance key, a JSON Web Key inside

DEPLOYMENT_KEY_TYPES: Dict[str, str] = {
    "instance.id": DK_PLAINTEXT,
    "signing.hmac": DK_WRAPPED_SECRET,
    "signing.jwt": DK_WRAPPED_SECRET,
    "signing.binary_data": DK_WRAPPED_SECRET,
    "data_encryption": DK_WRAPPED_DEK,
    "jwe.private-key": DK_CBC_JSON,
}
GCM_ALGORITHM = "aes-256-gcm"
CBC_ALGORITHM = "aes-256-cbc"
LEGACY_CBC_PREFIX = "U2FsdGVk"  # base64 of "Salted__"


def deployment_key_kind(row_type: str, algorithm: Optional[str]) -> str:
    """How a ``deployment_key`` row's value is stored, from its type and algorithm.

    ``data_encryption`` rows are always wrapped (their ``algorithm`` names what the DEK
    encrypts with); signing secrets are wrapped when ``algorithm`` is ``aes-256-gcm``
    and plaintext when it is NULL (2.38, rewrapped by 2.40 on start); ``jwe.private-key``
    rows carry the JWE algorithm and are CBC under the instance key. Unknown types:
    GCM-wrapped when the algorithm says so, else treated as plaintext.
    """
    if row_type == "data_encryption":
        return DK_WRAPPED_DEK
    if row_type == "jwe.private-key":
        return DK_CBC_JSON
    if algorithm == GCM_ALGORITHM:
        return DK_WRAPPED_SECRET
    return DK_PLAINTEXT


def location(name: str) -> EncryptedLocation:
    for loc in LOCATIONS:
        if loc.name == name:
            return loc
    raise KeyError(name)


def by_category() -> Dict[str, Tuple[EncryptedLocation, ...]]:
    return {c: tuple(loc for loc in LOCATIONS if loc.category == c) for c in CATEGORIES}


def default_categories() -> Tuple[str, ...]:
    return tuple(c for c in CATEGORIES if any(loc.default for loc in LOCATIONS if loc.category == c))


def select(categories: Optional[Tuple[str, ...]] = None) -> Tuple[EncryptedLocation, ...]:
    """The locations of the given categories (``None`` or ``("all",)``: the default set)."""
    if not categories or tuple(categories) == ("all",):
        return tuple(loc for loc in LOCATIONS if loc.default)
    unknown = sorted(set(categories) - set(CATEGORIES) - {"all"})
    if unknown:
        raise ValueError("Unknown key-check categories %s: use %s or all" % (", ".join(unknown), ", ".join(CATEGORIES)))
    chosen = set(categories)
    if "all" in chosen:
        chosen |= set(default_categories())
    return tuple(loc for loc in LOCATIONS if loc.category in chosen)


def tables() -> Tuple[str, ...]:
    """Every table that may hold key-bound values, in the order the check reads them."""
    seen: list[str] = []
    for loc in LOCATIONS:
        if loc.table not in seen:
            seen.append(loc.table)
    return tuple(seen)
