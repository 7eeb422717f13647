"""Tokens any service can verify: an independent verifier (PyJWT's PyJWKClient) reads the
running server's JWKS and checks our tokens with nothing else: no shared secret."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
import requests
from django.contrib.auth import get_user_model

from shared.accounts.signing_keys import SigningKeys, generate_private_key
from tests.processes import PRODUCTION, django_settings

PASSWORD = "an-old-long-passphrase"


@pytest.fixture
def account(transactional_db, fake_redis):
    return get_user_model().objects.create_user("ines", "ines@example.com", PASSWORD)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def log_in(server_url: str) -> dict:
    response = requests.post(
        f"{server_url}/api/auth/login/", json={"username": "ines", "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def verify(server_url: str, token: str, settings) -> dict:
    """What another service does: the key from our JWKS by the token's kid, then the claims."""
    signing_key = jwt.PyJWKClient(f"{server_url}/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    return jwt.decode(token, signing_key.key, algorithms=["ES256"], audience="resetpass",
                      issuer=settings.JWT_ISSUER)  # fmt: skip


def test_a_fresh_access_token_verifies_with_the_published_jwks(live_server, account, settings):
    tokens = log_in(live_server.url)
    claims = verify(live_server.url, tokens["access"], settings)
    assert claims["sub"] == str(account.pk)
    assert claims["aud"] == "resetpass"
    assert claims["token_type"] == "access"
    header = jwt.get_unverified_header(tokens["access"])
    assert header["alg"] == "ES256"
    [published] = requests.get(f"{live_server.url}/.well-known/jwks.json", timeout=10).json()[
        "keys"
    ]
    assert header["kid"] == published["kid"]
    assert "d" not in published  # the private part is never published


def tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "1" if claims["sub"] != "1" else "2"  # someone else's account
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def test_a_tampered_token_is_refused_by_the_verifier_and_by_us(live_server, account, settings):
    forged = tampered(log_in(live_server.url)["access"])
    with pytest.raises(jwt.InvalidSignatureError):
        verify(live_server.url, forged, settings)
    sessions = requests.get(f"{live_server.url}/api/auth/sessions/",
                            headers=bearer(forged), timeout=10)  # fmt: skip
    assert sessions.status_code == 401


def test_a_token_signed_before_a_rotation_still_verifies(live_server, account, settings):
    before = log_in(live_server.url)
    old_keys = settings.JWT_SIGNING_KEYS
    # The operator rotates: a new signing key, the old public key kept for a while.
    settings.JWT_SIGNING_KEYS = SigningKeys("ES256", generate_private_key("ES256"),
                                            (old_keys.public_pem,))  # fmt: skip
    after = log_in(live_server.url)
    assert jwt.get_unverified_header(after["access"])["kid"] != old_keys.kid
    jwks = requests.get(f"{live_server.url}/.well-known/jwks.json", timeout=10).json()
    assert [key["kid"] for key in jwks["keys"]] == [settings.JWT_SIGNING_KEYS.kid, old_keys.kid]

    for token in (before["access"], after["access"]):
        assert verify(live_server.url, token, settings)["sub"] == str(account.pk)
        response = requests.get(f"{live_server.url}/api/auth/sessions/",
                                headers=bearer(token), timeout=10)  # fmt: skip
        assert response.status_code == 200

    # Once the old public key is dropped, the old tokens stop working everywhere.
    settings.JWT_SIGNING_KEYS = SigningKeys("ES256", settings.JWT_SIGNING_KEYS.signing_key)
    response = requests.get(f"{live_server.url}/api/auth/sessions/",
                            headers=bearer(before['access']), timeout=10)  # fmt: skip
    assert response.status_code == 401


def test_a_password_change_still_ends_older_tokens_at_once(live_server, account, settings):
    old = log_in(live_server.url)
    changed = requests.post(
        f"{live_server.url}/api/auth/password/change/",
        json={"old_password": PASSWORD, "new_password1": "a-new-and-long-passphrase",
              "new_password2": "a-new-and-long-passphrase"},
        headers=bearer(old['access']), timeout=10,
    )  # fmt: skip
    assert changed.status_code == 200
    stale = requests.get(f"{live_server.url}/api/auth/sessions/",
                         headers=bearer(old['access']), timeout=10)  # fmt: skip
    assert stale.status_code == 401
    # Still a validly signed token: only our own check knows the password changed.
    assert verify(live_server.url, old["access"], settings)["sub"] == str(account.pk)


def test_production_refuses_to_start_without_a_signing_key():
    env = {**PRODUCTION, "JWT_SIGNING_KEY": None}
    result = django_settings("settings.JWT_ALGORITHM", **env)
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY must be set" in result.stderr


def test_rs256_and_hs256_can_be_chosen():
    rsa = django_settings(
        "settings.JWT_SIGNING_KEYS.jwks['keys'][0]['kty']",
        **{
            **PRODUCTION,
            "JWT_ALGORITHM": "RS256",
            "JWT_SIGNING_KEY": generate_private_key("RS256"),
        },
    )
    assert json.loads(rsa.stdout) == "RSA", rsa.stderr
    shared_secret = django_settings("settings.JWT_SIGNING_KEYS.jwks",
                                    **{**PRODUCTION, "JWT_ALGORITHM": "HS256"})  # fmt: skip
    assert json.loads(shared_secret.stdout) == {"keys": []}, shared_secret.stderr


def test_a_key_of_the_wrong_kind_stops_the_start():
    result = django_settings(
        "1", **{**PRODUCTION, "JWT_SIGNING_KEY": generate_private_key("RS256")}
    )  # an RSA key while ES256 is asked for
    assert result.returncode != 0
    assert "ES256 needs an EC key" in result.stderr


def test_another_drf_service_verifies_tokens_with_simplejwt_and_the_jwks_url(
    live_server, account, settings
):
    """The README's settings for a team's other service: simplejwt with JWK_URL only."""
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.exceptions import TokenBackendError

    theirs = TokenBackend(
        "ES256", jwk_url=f"{live_server.url}/.well-known/jwks.json", audience="resetpass",
        issuer=settings.JWT_ISSUER,
    )  # fmt: skip
    access = log_in(live_server.url)["access"]
    assert theirs.decode(access)["user_id"] == str(account.pk)
    with pytest.raises(TokenBackendError):
        theirs.decode(tampered(access))
