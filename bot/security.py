"""Web security for every page of the app: CSRF tokens on state-changing requests, cookie flags, response headers.

The LINE webhook and the demo simulator's JSON API are exempt from CSRF by name (LINE signs its requests; the
simulator is not registered in production). Everything else that accepts POST must send ``csrf_token``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.config import Config

csrf = CSRFProtect()
log = logging.getLogger(__name__)

# 'self' only: no inline script or style anywhere, no framing, no plugins, no <base> tricks.
CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'"
# The staff console additionally sends its forms only to itself.
STAFF_CSP = CONTENT_SECURITY_POLICY + "; form-action 'self'"
HSTS = "max-age=63072000; includeSubDomains"


def init_app(app: Flask, config: Config, *, csrf_exempt: list) -> None:
    """Call after every blueprint is registered; ``csrf_exempt`` lists the blueprints that are exempt."""
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies, x_host=config.trusted_proxies
        )
    elif config.production:
        app.before_request(forwarded_for_warning())
    app.config.update(
        SESSION_COOKIE_NAME="__Host-kosodate" if config.https else "kosodate",
        SESSION_COOKIE_SECURE=config.https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Tokens live as long as the (server-limited) staff session; a page left open for an hour still submits.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    for blueprint in csrf_exempt:
        csrf.exempt(blueprint)

    @app.errorhandler(CSRFError)
    def csrf_refused(_error: CSRFError):
        return render_template("staff/csrf_error.html"), 400

    @app.after_request
    def headers(response: Response) -> Response:
        staff = request.path.startswith("/staff")
        response.headers["Content-Security-Policy"] = STAFF_CSP if staff else CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: the CSRF check over HTTPS compares the Referer; other sites learn nothing (join links!).
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if config.https:
            response.headers["Strict-Transport-Security"] = HSTS
        if staff:
            # Pages with personal data stay out of shared caches and the browser's back-forward history on disk.
            response.headers["Cache-Control"] = "no-store"
        return response


def forwarded_for_warning() -> Callable[[], None]:
    """A request hook that warns once when requests arrive through a proxy (X-Forwarded-For) while TRUSTED_PROXIES
    is 0: every client then has the proxy's address, and the sign-in throttle's per-address delay is shared by all
    staff. The line names no address."""
    warned = False

    def check() -> None:
        nonlocal warned
        if not warned and "X-Forwarded-For" in request.headers:
            warned = True
            log.warning(
                "requests arrive through a proxy (X-Forwarded-For) but TRUSTED_PROXIES=0: every client "
                "looks like the proxy to the sign-in throttle; set TRUSTED_PROXIES to the number of proxies"
            )

    return check
