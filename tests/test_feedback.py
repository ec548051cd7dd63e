"""Citizens report problems; the responsible person is mailed through the outbox (a real SMTP
server, aiosmtpd, stopped and restarted: nothing lost, nothing twice); the officer answers and
the reporter is told; the public sees the reports without e-mails; spam is held off. Both
stores."""

from __future__ import annotations

import email
import email.header
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gp_testlib import canonical_points, cli_here
from portal_testlib import Portal, setup_people, wait_for
from server_testlib import XSS, free_port, start, write_config

MANIFEST = """\
id: shelters
title: {en: Shelters, ru: Убежища, uz: Boshpanalar}
passport:
  organization: Ministry of Emergency Situations
  responsible: {name: Dilnoza Karimova, email: dilnoza@mchs.example}
  license: CC-BY-4.0
  update_frequency: daily
schema: {id_field: id}
"""


class Inbox:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[email.message.Message] = []
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                msg = email.message_from_bytes(envelope.content)
                msg["X-Rcpt"] = ", ".join(envelope.rcpt_tos)
                inbox.messages.append(msg)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[email.message.Message]:
        return [m for m in self.messages if address in m["X-Rcpt"]]


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def channel(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"feedback-{request.param}")
    inbox = Inbox(free_port())
    inbox.start()
    write_config(root, request, f"fb_{secrets.token_hex(4)}",
                 f"mail: {{host: 127.0.0.1, port: {inbox.port}, sender: portal@gov.example, "
                 "helpdesk: helpdesk@gov.example}\nfeedback: {per_address: 5, window_minutes: 10}\n")
    (root / "collections").mkdir()
    (root / "collections" / "shelters.yml").write_text(MANIFEST, encoding="utf-8")
    src = root / "shelters.geojson"
    canonical_points().to_file(src, driver="GeoJSON")
    done = cli_here(root / "config.yml", "ingest", str(src), "--collection", "shelters")
    assert done.returncode == 0, done.stderr
    server = start(root, workers=2)
    portal = Portal(server)
    portal.backend = request.param  # type: ignore[attr-defined]
    setup_people(portal)
    assert portal.cli("admin", "assign", "--org", "emergency").returncode == 0
    yield portal, inbox
    server.stop()
    inbox.stop()


def _from(address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (another citizen)."""
    return httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_a_report_reaches_the_responsible_person_and_the_public_list(channel) -> None:
    portal, inbox = channel
    citizen = _from("127.0.0.11")
    r = citizen.post(portal.url + "/feedback/shelters", json={
        "category": "closed_or_moved", "text": f"The shelter is closed since Monday {XSS}",
        "email": "citizen@mail.example", "feature": "3", "lon": 71.67, "lat": 40.99})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.headers["access-control-allow-origin"] == "*"
    got = wait_for(lambda: inbox.to("dilnoza@mchs.example"), timeout=30)
    assert len(got) == 1
    msg = got[0]
    assert msg["Cc"] == "helpdesk@gov.example" and "helpdesk@gov.example" in msg["X-Rcpt"]
    assert msg["Message-ID"] == f"<report.{fid}@geo-publish>"
    body = msg.get_payload(decode=True).decode()
    assert "closed since Monday" in body and "citizen@mail.example" in body and f"/publish/feedback/{fid}" in body
    public = httpx.get(portal.url + "/feedback/shelters").json()
    assert public["open"] >= 1
    mine = next(x for x in public["reports"] if x["id"] == fid)
    assert mine["status"] == "open" and mine["version"] == 1 and mine["feature"] == "3"
    assert "citizen@mail.example" not in json_text(public) and "127.0.0" not in json_text(public)

    # the officer answers: acknowledged, then fixed in a version; the reporter is told each time
    alice = portal.api("alice")
    r = alice.post(f"/publish/api/feedback/{fid}", json={"status": "acknowledged", "answer": "We are checking."})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert alice.post(f"/publish/api/feedback/{fid}", json={"status": "fixed"}).status_code == 400
    assert alice.post(f"/publish/api/feedback/{fid}", json={"status": "fixed", "fixed_version": 99}).status_code == 404
    r = alice.post(f"/publish/api/feedback/{fid}", json={"status": "fixed", "fixed_version": 1,
                                                           "answer": "Marked closed."})
    assert r.status_code == 200 and r.json()["fixed_version"] == 1
    assert alice.post(f"/publish/api/feedback/{fid}", json={"status": "open"}).status_code == 400
    told = wait_for(lambda: len(inbox.to("citizen@mail.example")) >= 2 and inbox.to("citizen@mail.example"), 30)
    assert told and "acknowledged" in told[0]["Subject"] and "fixed in version 1" in told[1]["Subject"]
    public = httpx.get(portal.url + "/feedback/shelters").json()
    mine = next(x for x in public["reports"] if x["id"] == fid)
    assert mine["status"] == "fixed" and mine["answer"] == "Marked closed."
    assert public["median_hours_to_answer"] is not None
    meta = httpx.get(portal.url + "/collections/shelters", params={"f": "json"}).json()
    assert meta["freshness"]["state"] == "fresh" and meta["freshness"]["frequency"] == "daily"
    # another organisation cannot see or answer it
    bob = portal.api("bob")
    assert bob.post(f"/publish/api/feedback/{fid}", json={"status": "declined", "answer": "x"}).status_code == 404
    assert all(x["id"] != fid for x in bob.get("/publish/api/feedback").json()["reports"])
    # the officer's page shows the report as text
    page = portal.session("alice@example.org").get(f"/publish/feedback/{fid}")
    assert page.status_code == 200 and XSS not in page.text and "&lt;img" in page.text

    # the layer's public page of reports: status to the version that fixed it, the answer, no
    # e-mail, no cookie; in the language asked for; JSON stays the default for scripts
    for kw in ({"params": {"f": "html", "lang": "ru"}},
               {"headers": {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "ru"}}):
        page = httpx.get(portal.url + "/feedback/shelters", **kw)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "set-cookie" not in page.headers
        row = page.text[page.text.index(f'id="report-{fid}"'):]
        row = row[:row.index("</tr>")]
        assert "closed since Monday" in row and "&lt;img" in row and XSS not in page.text
        assert "исправлено (v1)" in row and "Marked closed." in row and "Закрыто или перемещено" in row
        assert "citizen@mail.example" not in page.text and "127.0.0" not in page.text
        assert 'id="freshness" data-state="fresh"' in page.text and "dilnoza@mchs.example" in page.text
    assert httpx.get(portal.url + "/feedback/shelters",
                     headers={"Accept": "application/json, text/html"}).json()["collection"] == "shelters"
    missing = httpx.get(portal.url + "/feedback/nothing", params={"f": "html"})
    assert missing.status_code == 404 and str(portal.server.root) not in missing.text


def json_text(doc: object) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False)


def test_bad_reports_are_one_line_400s_and_change_nothing(channel) -> None:
    portal, _ = channel
    client = _from("127.0.0.12")
    before = client.get(portal.url + "/feedback/shelters").json()["reports"]
    url = portal.url + "/feedback/shelters"
    for body, word in (({"category": "nonsense", "text": "x"}, "category"),
                       ({"category": "other", "text": ""}, "text"),
                       ({"category": "other", "text": "x" * 5000}, "longer"),
                       ({"category": "other", "text": "x", "email": "not-an-address"}, "email"),
                       ({"category": "other", "text": "x", "lon": 200, "lat": 40}, "lon"),
                       ({"category": "other", "text": "x", "lon": 70}, "both"),
                       ({"category": "other", "text": "a\u0000b"}, "NUL")):
        r = client.post(url, json=body)
        assert r.status_code == 400 and word in r.json()["description"], (body, r.text)
    assert client.post(url, content=b"<xml/>", headers={"content-type": "text/xml"}).status_code == 415
    # found by schemathesis: a multipart body without its boundary was a 500
    assert client.post(url, content=b"{}", headers={"content-type": "multipart/form-data"}).status_code == 415
    login = client.post(portal.url + "/publish/login", content=b"x",
                        headers={"content-type": "multipart/form-data"})
    assert login.status_code == 415 and "Traceback" not in login.text
    assert client.post(portal.url + "/feedback/nosuchlayer", json={"category": "other", "text": "x"}).status_code == 404
    # a robot fills the hidden field: answered as if accepted, kept nowhere
    r = client.post(url, data={"category": "other", "text": "buy pills", "website": "http://spam.example"})
    assert r.status_code == 201 and r.json()["id"] is None
    assert client.get(url).json()["reports"] == before


def test_one_address_is_limited_and_others_still_get_through(channel) -> None:
    portal, inbox = channel
    url = portal.url + "/feedback/shelters"
    flood = _from("127.0.0.13")
    statuses = [flood.post(url, json={"category": "other", "text": f"flood {i}"}).status_code
                for i in range(40)]
    assert statuses[:5] == [201] * 5 and set(statuses[5:]) == {429}
    # at once, the limit holds too: it is taken atomically, not checked then counted
    from concurrent.futures import ThreadPoolExecutor

    burst = _from("127.0.0.17")
    with ThreadPoolExecutor(16) as pool:
        at_once = list(pool.map(lambda i: burst.post(url, json={
            "category": "other", "text": f"burst {i}"}).status_code, range(32)))
    assert sorted(at_once) == [201] * 5 + [429] * 27
    other = _from("127.0.0.14")
    assert other.post(url, json={"category": "missing_feature", "text": "A new shelter at school 5"}).status_code == 201
    stored = [x for x in httpx.get(url).json()["reports"] if x["text"].startswith("flood")]
    assert len(stored) == 5
    assert len([x for x in httpx.get(url).json()["reports"] if x["text"].startswith("burst")]) == 5
    # the outbox holds one message per accepted report, no more
    outbox = portal.accounts().outbox()
    assert sum("flood" in m["body"] for m in outbox) == 5


def test_an_smtp_outage_loses_no_mail_and_sends_none_twice(channel) -> None:
    portal, inbox = channel
    # the mail of earlier tests is out first: on a loaded machine it was still queued when the
    # outage began, and then waited its backoff past this test's end ("11 waiting")
    assert wait_for(lambda: all(m["sent"] for m in portal.accounts().outbox()), 60)
    inbox.stop()
    try:
        citizen = _from("127.0.0.15")
        ids = [citizen.post(portal.url + "/feedback/shelters", json={
            "category": "wrong_information", "text": f"outage report {i}"}).json()["id"] for i in range(3)]

        def attempted():  # noqa: ANN202
            # all three tried (a sender's round may fall between two of the reports)
            found = [m for m in portal.accounts().outbox()
                     if any(i in m["body"] for i in ids) and m["attempts"] >= 1]
            return found if len(found) == 3 else None

        waiting = wait_for(attempted, 30) or []
        assert len(waiting) == 3 and all(not m["sent"] and "connect" in m["last_error"] for m in waiting)
    finally:
        inbox.start()  # the same address: the retries find it (and the next tests have mail)
    ok = wait_for(lambda: sum(any(i in (m.get_payload(decode=True) or b"").decode() for i in ids)
                              for m in inbox.to("dilnoza@mchs.example")) >= 3, timeout=60)
    assert ok
    time.sleep(3)  # a second delivery would have happened by now
    got = [m for m in inbox.to("dilnoza@mchs.example")
           if any(i in m.get_payload(decode=True).decode() for i in ids)]
    assert sorted(m["Message-ID"] for m in got) == sorted(f"<report.{i}@geo-publish>" for i in ids)
    done = portal.cli("mail")
    assert done.returncode == 0 and "0 waiting" in done.stdout


def test_a_long_job_does_not_hold_the_mail_up(channel) -> None:
    """``serve`` sends mail from a process of its own: with the job runner held (as a long
    ingest holds it), a report's mail still goes out."""
    import os
    import signal

    from gp_testlib import child_pids

    portal, inbox = channel
    children = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                for pid in child_pids(portal.server.proc.pid)}
    runner = [pid for pid, cmd in children.items() if b"--jobs-only" in cmd]
    sender = [pid for pid, cmd in children.items() if b"--mail-only" in cmd]
    assert len(runner) == 1 and len(sender) == 1, children
    os.kill(runner[0], signal.SIGSTOP)
    try:
        fid = _from("127.0.0.16").post(portal.url + "/feedback/shelters", json={
            "category": "other", "text": "sent while a job runs"}).json()["id"]
        assert wait_for(lambda: any(m["Message-ID"] == f"<report.{fid}@geo-publish>"
                                    for m in inbox.to("dilnoza@mchs.example")), timeout=30)
    finally:
        os.kill(runner[0], signal.SIGCONT)


def _link(inbox: Inbox, address: str, n: int) -> str:
    """The password link of the n-th message to ``address``."""
    got = wait_for(lambda: len(inbox.to(address)) >= n and inbox.to(address), timeout=30)
    assert got and len(got) >= n, f"no message {n} to {address}"
    body = got[n - 1].get_payload(decode=True).decode()
    found = re.search(r"(http\S+/publish/password/\S+)", body)
    assert found, body
    return found.group(1)


def test_an_invitation_and_a_forgotten_password_by_mail(channel) -> None:
    """A new person is invited by mail and sets their password through a one-time link; a
    forgotten password works the same way. Links: made from server.url (not the request's
    Host), once only, refused without the form's CSRF token, kept only as hashes, and their
    text leaves the outbox once sent. The answer to "forgot" does not tell who has an account."""
    from portal_testlib import csrf_of

    portal, inbox = channel
    anna = portal.session("anna@example.org")
    org_page = anna.get("/publish/orgs/emergency")
    added = anna.post("/publish/orgs/emergency/members", headers={"Host": "evil.example"}, data={
        "csrf": csrf_of(org_page.text), "email": "newcomer@mchs.example", "name": f"New {XSS}",
        "role": "publisher"})
    assert added.status_code == 200 and 'id="invited"' in added.text
    assert 'id="new-password"' not in added.text and XSS not in added.text
    link = _link(inbox, "newcomer@mchs.example", 1)
    assert link.startswith(portal.url + "/publish/password/gpl_")  # not evil.example
    token = link.rsplit("/", 1)[1]
    assert not any(token in json.dumps(r, default=str) for r in portal.accounts().outbox())
    # the page the link opens; a form without the CSRF token, or two different passwords,
    # change nothing and leave the link usable
    newcomer = httpx.Client(base_url=portal.url, timeout=30)
    page = newcomer.get(link)
    assert page.status_code == 200 and "newcomer@mchs.example" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    new = "a long new password 1"
    assert newcomer.post(link, data={"password": new, "again": new}).status_code == 403
    assert newcomer.post(link, data={"csrf": csrf_of(page.text), "password": new,
                                     "again": new + "x"}).status_code == 400
    assert newcomer.post(link, data={"csrf": csrf_of(page.text), "password": "short",
                                     "again": "short"}).status_code == 400
    done = newcomer.post(link, data={"csrf": csrf_of(page.text), "password": new, "again": new})
    assert done.status_code == 200 and 'id="message-ok"' in done.text
    assert portal.session("newcomer@mchs.example", new)
    # once only
    again = httpx.Client(base_url=portal.url, timeout=30)
    form = again.get("/publish/login").text
    spent = again.post(link, data={"csrf": csrf_of(form), "password": "another password 2",
                                   "again": "another password 2"})
    assert spent.status_code == 410 and portal.session("newcomer@mchs.example", new)
    assert again.get("/publish/password/gpl_" + "x" * 43).status_code == 404
    # forgotten: the same answer for an address with an account and one without
    signed_in = portal.session("newcomer@mchs.example", new)
    assert signed_in.get("/publish/").status_code == 200
    answers = []
    for address in ("newcomer@mchs.example", "nobody@mchs.example"):
        client = httpx.Client(base_url=portal.url, timeout=30)
        form = client.get("/publish/password").text
        r = client.post("/publish/password", data={"csrf": csrf_of(form), "email": address})
        answers.append((r.status_code, re.sub(r'(name="csrf" value|data-csrf)="[^"]+"', "", r.text)))
    assert answers[0] == answers[1] and answers[0][0] == 200 and 'id="link-sent"' in answers[0][1]
    link2 = _link(inbox, "newcomer@mchs.example", 2)
    assert link2 != link and not inbox.to("nobody@mchs.example")
    page = newcomer.get(link2)
    newest = "the newest password 3"
    assert newcomer.post(link2, data={"csrf": csrf_of(page.text), "password": newest,
                                      "again": newest}).status_code == 200
    # the old password and the sessions made with it are over
    assert signed_in.get("/publish/", follow_redirects=False).status_code == 303
    assert portal.session("newcomer@mchs.example", newest)
    audit = [a["action"] for a in portal.accounts().audit_log("emergency", 500)] + [
        a["action"] for a in portal.accounts().audit_log(None, 500)]
    assert "password set" in audit and "password link sent" in audit
    # asking again and again for one address is limited
    statuses = []
    for _ in range(4):
        client = httpx.Client(base_url=portal.url, timeout=30)
        form = client.get("/publish/password").text
        statuses.append(client.post("/publish/password", data={
            "csrf": csrf_of(form), "email": "Someone@mchs.example"}).status_code)
    assert statuses == [200, 200, 200, 429]
    # an administrator's script invites officers from the command line in the same way
    done = subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(portal.server.config),
                           "admin", "person", "officer7@mchs.example", "--org", "emergency", "--name",
                           "Officer Seven", "--invite", "--lang", "ru"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GEO_PUBLISH_URL": portal.url})
    assert done.returncode == 0 and "outbox" in done.stdout and "shown once" not in done.stdout, done.stderr
    link3 = _link(inbox, "officer7@mchs.example", 1)
    assert link3.startswith(portal.url + "/publish/password/gpl_")
    subject = email.header.make_header(email.header.decode_header(inbox.to("officer7@mchs.example")[0]["Subject"]))
    assert str(subject) == "Ваша учётная запись на портале публикации"
    assert httpx.get(link3, timeout=30).status_code == 200


def test_mail_password_must_come_from_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text("mail: {host: smtp.example, password: hunter2hunter2}\n")
    done = subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(cfg), "mail"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "mail.password must come from the environment" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_the_report_form_on_a_phone(channel, browser) -> None:
    """The citizen's side in Chromium at phone size: a layer card's form, and a feature
    popup's form (its feature and point go along); the reports arrive, and are mailed."""
    from viewer_testlib import ARTIFACTS

    portal, inbox = channel
    url = portal.url
    assert wait_for(lambda: httpx.get(url + "/site/index.html").status_code == 200, timeout=60)
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(url + "/site/index.html?lang=ru")
        card = page.locator("#layer-shelters")
        card.locator(".gp-report-open").click()
        card.locator("select[name=category]").select_option("closed_or_moved")
        card.locator("textarea[name=text]").fill("Убежище в школе №5 закрыто <b>сейчас</b>")
        card.locator("input[name=email]").fill("fotima@mail.example")
        card.locator("button[type=submit]").click()
        page.wait_for_function("document.querySelector('#layer-shelters .gp-report-status').textContent.length > 0")
        assert "Спасибо" in card.locator(".gp-report-status").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / "report-form-card-phone.png"))
        page.wait_for_function("document.querySelector('#layer-shelters .gp-open-reports').textContent !== '–'")
        fresh = card.locator(".gp-freshness")
        assert fresh.get_attribute("data-state") == "fresh" and "актуально" in fresh.inner_text()
        assert card.locator(".gp-reports-link").get_attribute("href").endswith("/feedback/shelters?f=html")

        # a card's freshness is asked of the API on each visit, not frozen at the build
        def stale(route):
            body = route.fetch().json()
            body["freshness"]["state"] = "delinquent"
            route.fulfill(json=body)

        page.route("**/collections/shelters?f=json", stale)
        page.reload()
        page.wait_for_function(
            "document.querySelector('#layer-shelters .gp-freshness').dataset.state === 'delinquent'")
        assert "давно не обновлялось" in fresh.inner_text()
        page.unroute("**/collections/shelters?f=json")

        page.goto(url + "/site/layer-shelters.html?lang=ru")
        page.wait_for_selector("html[data-gp-drawn]", state="attached", timeout=20_000)
        page.wait_for_function("geoPublish.state.layers.every(l => typeof l.props === 'object')")
        page.evaluate("""() => { const s = geoPublish.state, l = s.layers[0];
            s.map.setView([l.points[5], l.points[4]], 14, {animate: false}); }""")
        page.wait_for_timeout(300)
        inside = page.evaluate("""() => [...document.querySelectorAll('.leaflet-marker-icon')]
            .findIndex(e => { const r = e.getBoundingClientRect();
                return r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; })""")
        assert inside >= 0
        page.locator(".leaflet-marker-icon").nth(inside).click(force=True)
        page.wait_for_selector(".leaflet-popup-content .gp-report-open", timeout=5000)
        page.locator(".leaflet-popup-content .gp-report-open").click()
        page.locator(".leaflet-popup-content textarea[name=text]").fill("Wrong place: it is across the road")
        page.wait_for_timeout(400)  # the popup stays open, fully shown (it used to close itself)
        assert page.evaluate("getComputedStyle(document.querySelector('.leaflet-popup')).opacity") == "1"
        page.locator(".leaflet-popup-content select[name=category]").select_option("wrong_location")
        page.screenshot(path=str(ARTIFACTS / "report-form-popup-phone.png"))
        page.locator(".leaflet-popup-content button[type=submit]").click()
        page.wait_for_function("(document.querySelector('.leaflet-popup-content .gp-report-status') || "
                               "{}).textContent", timeout=10_000)
        status = page.locator(".leaflet-popup-content .gp-report-status").inner_text()
        assert "Спасибо" in status, status
        assert errors == [], errors
    finally:
        ctx.close()
    reports = httpx.get(url + "/feedback/shelters").json()["reports"]
    card_report = next(r for r in reports if r["text"].startswith("Убежище в школе"))
    assert card_report["category"] == "closed_or_moved" and card_report["feature"] is None
    popup_report = next(r for r in reports if r["text"].startswith("Wrong place"))
    assert popup_report["feature"] and popup_report["lat"] is not None and popup_report["lon"] is not None
    assert wait_for(lambda: any("Wrong place" in m.get_payload(decode=True).decode()
                                for m in inbox.to("dilnoza@mchs.example")), timeout=45)
