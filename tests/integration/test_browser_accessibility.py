"""axe-core audits every HTML page in a real browser (Debian's chromium, driven by Playwright),
at phone and desktop width, with and without the errors its form can show: no serious or
critical violation anywhere, every aria-describedby names an element that exists, and alerts sit
on wrappers, not on lists.

axe comes from the axe-playwright-python package (its bundled axe.min.js). It is run through
``page.evaluate``, which Playwright sends over the DevTools protocol: the page's
Content-Security-Policy (``script-src 'self'``) governs the page's own scripts, not code the
browser's driver evaluates, so the pages are audited as served, under their real policy, with
no ``bypass_csp`` and nothing injected into them. The test also watches that no policy
violation is reported meanwhile.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model

from tests.integration.browser import requires_chromium
from tests.integration.page_tour import STOPS, Tour

pytestmark = requires_chromium

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FAILING_IMPACTS = {"serious", "critical"}
# The audit's own frames (the mailbox's sandboxed HTML part runs no script, so no axe either).
AXE_OPTIONS = {"resultTypes": ["violations"], "iframes": False}

# What axe does not check: ids named by aria-describedby (or aria-labelledby) that exist, and
# role="alert" on a list (whose items then lose their list semantics in some screen readers).
STRUCTURE = """() => {
  const missing = [];
  for (const el of document.querySelectorAll("[aria-describedby], [aria-labelledby]")) {
    for (const attr of ["aria-describedby", "aria-labelledby"]) {
      for (const id of (el.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) missing.push(`${el.name || el.id}: ${attr} ${id}`);
      }
    }
  }
  const alertLists = [...document.querySelectorAll("ul[role=alert], ol[role=alert]")]
    .map((el) => el.outerHTML.slice(0, 80));
  return {missing, alertLists};
}"""

REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def describe(violations: list[dict]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in violations
    ]


def test_every_page_passes_axe_at_phone_and_desktop_width(
    browser_page, live_stack, live_server, mailbox, settings, monkeypatch, tmp_path
):
    page = browser_page
    page.emulate_media(color_scheme="light")
    get_user_model().objects.create_user("erin", "erin@example.com", "erins-long-old-passphrase")
    axe = Axe()
    found: dict[str, list[str]] = {}
    visited: list[str] = []
    csp_violations: list[str] = []
    page.context.expose_function("reportCspViolation", lambda text: csp_violations.append(text))
    page.context.add_init_script(REPORT_CSP_VIOLATIONS)

    def audit(name: str) -> None:
        visited.append(name)
        for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            results = axe.run(page, options=AXE_OPTIONS).response
            failing = [v for v in results["violations"] if v["impact"] in FAILING_IMPACTS]
            structure = page.evaluate(STRUCTURE)
            problems = describe(failing) + structure["missing"] + structure["alertLists"]
            if problems:
                found[f"{name} ({width})"] = problems
        page.set_viewport_size(PHONE)

    def mailbox_pages_on():
        # The mailbox pages exist only with DEBUG on (the live server runs with it off); they
        # show what the SMTP server received.
        settings.DEBUG = True

        def mail_dir():
            for index, (_, message) in enumerate(mailbox.messages):
                (tmp_path / f"{index:03d}.eml").write_bytes(message.as_bytes())
            return tmp_path

        monkeypatch.setattr("api.views.devmail.mail_dir", mail_dir)

    Tour(page, live_server.url, mailbox, visit=audit, before_dev_mail=mailbox_pages_on).walk()

    assert visited == list(STOPS)
    assert found == {}
    page.evaluate("() => new Promise((done) => setTimeout(done))")
    assert csp_violations == []


def test_the_audit_sees_a_violation_when_there_is_one(browser_page):
    """The audit is not blind: a page with an unlabelled field and an image without alt text
    fails it."""
    page = browser_page
    page.set_content('<html lang="en"><body><main><input type="text"><img src="x.png"></main>')
    violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    failing = {v["id"] for v in violations if v["impact"] in FAILING_IMPACTS}
    assert {"label", "image-alt"} <= failing
