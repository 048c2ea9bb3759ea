"""The sign-in throttle's notion of "one address" (second outside probe of issue 13).

An IPv6 subscriber gets a whole /64 network and can pick a new address from it for every attempt; counted one by
one, each of those would start with fresh (account, address) and address counters, and the delays would never
begin. One /64 is therefore one address to the throttle, as it is to the usual rate limiters.
"""

from __future__ import annotations

import time_machine

from storage import login_throttle
from storage.clock import now
from tests.test_staff_signin_devices import device_browser


def test_addresses_of_one_ipv6_network_share_one_throttle(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    owners_browser = device_browser(app, account, sign_in, csrf_token)  # the account-wide delay spares it
    client = app.test_client()
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE):
            address = f"2001:db8:1:2::{n + 1:x}"
            assert sign_in(client, account, password=f"wrong password {n}", address=address).status_code == 401
        assert sign_in(owners_browser, account, address="2001:db8:1:2:ffff::9").status_code == 429
        # Another network (another /64) is another address: the owner still gets in from there.
        assert sign_in(owners_browser, account, address="2001:db8:1:3::1").status_code == 302


def test_an_ipv4_mapped_address_is_the_ipv4_address(app, staff_factory, sign_in):
    account = staff_factory("staff", "minamihoncho")
    client = app.test_client()
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE):
            address = "203.0.113.7" if n % 2 else "::ffff:203.0.113.7"
            assert sign_in(client, account, password=f"wrong password {n}", address=address).status_code == 401
        assert sign_in(client, account, address="203.0.113.7").status_code == 429
