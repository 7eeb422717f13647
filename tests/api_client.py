"""A JSON API client for tests: one 'device' with its own tokens."""

from __future__ import annotations

import json

from django.test import Client


class Device:
    def __init__(self, user_agent: str = "test-device", ip: str = "198.51.100.7"):
        self.client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
        self.access: str | None = None
        self.refresh: str | None = None

    def post(self, path: str, body: dict, **extra):
        return self.client.post(
            f"/api/auth/{path}", data=json.dumps(body), content_type="application/json", **extra
        )

    def bearer(self, token: str | None = None) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {token or self.access}"}

    def login(self, password: str, **who):
        response = self.post("login/", {**who, "password": password})
        if response.status_code == 200:
            self.access, self.refresh = response.json()["access"], response.json()["refresh"]
        return response

    def sessions(self, token: str | None = None):
        return self.client.get("/api/auth/sessions/", **self.bearer(token))

    def refresh_tokens(self, refresh: str | None = None):
        response = self.post("token/refresh/", {"refresh": refresh or self.refresh})
        if response.status_code == 200:
            self.access, self.refresh = response.json()["access"], response.json()["refresh"]
        return response

    def change_password(self, old: str, new: str, token: str | None = None):
        response = self.post(
            "password/change/",
            {"old_password": old, "new_password1": new, "new_password2": new},
            **self.bearer(token),
        )
        if response.status_code == 200:
            self.access, self.refresh = response.json()["access"], response.json()["refresh"]
        return response
