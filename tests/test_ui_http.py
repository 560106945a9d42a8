"""The web page's endpoints over real HTTP: HTML and JSON, escaping, token, CSRF and actions."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from ui_support import FAIL_LINE, Page, serve_page


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    yield from serve_page(tmp_path / "ui.db")


@pytest.fixture
def dev_page(tmp_path: Path) -> Iterator[Page]:
    yield from serve_page(tmp_path / "ui.db", dev=True)


@pytest.fixture
def token_page(tmp_path: Path) -> Iterator[Page]:
    yield from serve_page(tmp_path / "ui.db", token="s3cret; x")


def test_browser_gets_the_instances_page_while_events_and_other_clients_keep_their_answers(page: Page) -> None:
    iid = page.app.start("ui_order", "ORD-1")
    html = page.get("/")
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert html.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert iid in html.text and "waiting for event" in html.text
    assert not re.search(r"<script>|\son[a-z]+=", html.text)  # no inline script or handler
    assert "routes" in page.get("/", html=False).json()  # a client that is not a browser: the map
    event = {"specversion": "1.0", "type": "ui.paid", "source": "t", "id": "e1", "data": {"order_id": "ORD-1"}}
    posted = requests.post(page.url + "/", json=event, timeout=10,
                           headers={"Content-Type": "application/cloudevents+json"})
    assert posted.status_code == 202


def test_the_page_polls_get_instances_which_pages_filters_searches_and_counts(page: Page) -> None:
    for n in range(3):
        page.app.start("ui_order", f"ORD-{n}", instance_id=f"ui-{n}")
    page.app.start("ui_fail", "no", instance_id="ui-f")
    html = page.get("/?status=&workflow=&q=ORD-1").text  # the filter form's blanks mean "any"
    assert 'data-poll="/instances"' in html and "ui-1" in html and "ui-2" not in html
    first = page.get("/instances?limit=2&counts=true", html=False).json()
    assert [i["instance_id"] for i in first["instances"]] == ["ui-f", "ui-2"]
    assert first["counts"] == {"waiting_for_event": 3, "failed": 1}
    second = page.get(f"/instances?limit=2&after={first['next']}", html=False).json()
    assert [i["instance_id"] for i in second["instances"]] == ["ui-1", "ui-0"] and second["next"] is None
    assert "counts" not in second  # only when asked: the documented shape is unchanged
    failed = page.get("/instances?status=failed", html=False).json()
    assert [i["instance_id"] for i in failed["instances"]] == ["ui-f"]
    found = page.get("/instances?q=ORD-1", html=False).json()
    assert [i["instance_id"] for i in found["instances"]] == ["ui-1"]
    assert page.get("/instances?status=parked", html=False).json()["instances"] == []
    for query in ("after=garbage", "limit=0", "status=", "counts=maybe"):
        assert page.get(f"/instances?{query}", html=False).status_code == 400, query
    assert page.get("/?after=garbage").status_code == 400  # the page parses as the route does
    assert page.get("/ui/api/instances", html=False).status_code == 404  # the page's old copy is gone


def test_instance_page_renders_get_instance_with_wait_form_timeline_and_escaped_input(page: Page) -> None:
    iid = page.app.start("ui_order", "<script>alert(1)</script>")
    html = page.get(f"/ui/instances/{iid}").text
    assert f'data-poll="/instances/{iid}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert 'name="type" value="ui.paid"' in html  # the send form, prefilled from the wait
    assert "&#34;order_id&#34;: &#34;&lt;script&gt;" in html
    assert "ui_reserve" in html and "data-countdown" in html
    assert "Advancing time is off" in html  # not started with --dev
    assert f'data-action="/cancel/{iid}"' in html  # the public route
    detail = page.get(f"/instances/{iid}", html=False).json()
    assert [(s["kind"], s["name"]) for s in detail["history"]] == [("activity", "ui_reserve")]
    assert page.get("/ui/instances/nobody").status_code == 404
    assert page.get(f"/ui/api/instances/{iid}", html=False).status_code == 404


def test_failed_instance_points_at_the_users_file_and_line(page: Page) -> None:
    iid = page.app.start("ui_fail", "why not")
    html = page.get(f"/ui/instances/{iid}").text
    assert f"ui_support.py:{FAIL_LINE} in ui_fail" in html and "refused: why not" in html
    assert f'data-action="/retry/{iid}"' in html


def test_timeline_lists_each_failed_attempt_with_its_escaped_error_under_its_step(page: Page) -> None:
    iid = page.app.start("ui_steady")
    waiting = page.get(f"/ui/instances/{iid}").text
    assert "attempt 1 failed" in waiting and "&lt;i&gt;down&lt;/i&gt; on attempt 1" in waiting
    assert "<i>down" not in waiting
    now = time.time()
    page.app.tick(now=now + 3600)
    page.app.tick(now=now + 3 * 3600 + 60)
    assert page.app.get(iid).status == "completed"
    html = page.get(f"/ui/instances/{iid}").text
    step = html[html.index('class="step step-activity'):]
    listed = re.findall(r"attempt (\d) failed: .*?<b>(\w+)</b>: (.*?)</span>", step, re.S)
    assert listed == [("1", "ConnectionError", "&lt;i&gt;down&lt;/i&gt; on attempt 1"),
                      ("2", "ConnectionError", "&lt;i&gt;down&lt;/i&gt; on attempt 2")]
    assert "ui_support.py:" in step and "<i>down" not in html


def test_instance_page_shows_the_near_misses_of_get_instance(page: Page) -> None:
    iid = page.app.start("ui_order", "ORD-N")
    assert "Events that nearly matched" not in page.get(f"/ui/instances/{iid}").text
    page.app.send_event("ui.paid", {"order_id": "<ORD-X>"}, event_id="<b>e9</b>", source="shop")
    missed = page.get(f"/instances/{iid}", html=False).json()["near_misses"]
    assert [(m["id"], m["source"], m["reason"]) for m in missed] == [
        ("<b>e9</b>", "shop", 'data.order_id is "<ORD-X>", wanted "ORD-N"')]
    fragment = page.get(f"/ui/instances/{iid}?fragment=1").text
    assert f'data-misses="{missed[0]["seq"]}"' in fragment  # what the script compares with the poll
    section = fragment[fragment.index('id="near-misses"'):]
    assert "data.order_id is &#34;&lt;ORD-X&gt;&#34;, wanted &#34;ORD-N&#34;" in section
    assert "&lt;b&gt;e9&lt;/b&gt; from shop" in section and missed[0]["received_at"] in section


def test_events_page_renders_get_events_with_consumers_filters_and_escaped_data(page: Page) -> None:
    iid = page.app.start("ui_order", "ORD-E")
    page.app.send_event("ui.paid", {"order_id": "ORD-E"})
    page.app.send_event("ui.note", {"text": "<script>alert(2)</script>"})
    html = page.get("/ui/events").text
    assert f'href="/ui/instances/{iid}"' in html and "unconsumed" in html
    assert "&lt;script&gt;alert(2)" in html and "<script>alert" not in html
    listed = page.get("/events", html=False).json()
    assert [(e["type"], e["consumed_by"]) for e in listed] == [("ui.note", []), ("ui.paid", [iid])]
    older = page.get(f"/events?before={listed[0]['seq']}", html=False).json()
    assert [e["type"] for e in older] == ["ui.paid"]
    assert page.get("/events?before=x", html=False).status_code == 400
    unconsumed = page.get("/ui/events?type=&unconsumed=true").text
    assert "ui.note" in unconsumed and f'href="/ui/instances/{iid}"' not in unconsumed
    assert page.get("/ui/api/events", html=False).status_code == 404  # only the send action (POST) is left


def test_workflows_page_lists_parameters_and_starts_one(page: Page) -> None:
    html = page.get("/ui/workflows").text
    assert "ui_order" in html and 'name="order_id"' in html and 'name="amount"' in html
    started = page.act("/ui/api/workflows/ui_order/start", {"arguments": {"order_id": "ORD-W", "amount": "2.5"}})
    assert started.status_code == 201
    instance = page.app.get(started.json()["instance_id"])
    assert (instance.status, instance.args, instance.kwargs) == ("waiting_for_event", [], {"order_id": "ORD-W", "amount": 2.5})
    wrong = page.act("/ui/api/workflows/ui_order/start", {"arguments": {"order_id": "X", "amount": "lots"}})
    assert wrong.status_code == 400 and "amount" in wrong.json()["error"]
    assert page.act("/ui/api/workflows/nope/start", {}).status_code == 404


def test_actions_cancel_on_the_public_route_and_send_event(page: Page) -> None:
    cancelled = page.app.start("ui_order", "ORD-C")
    answer = page.act(f"/cancel/{cancelled}")  # as the page's script sends it: JSON, same origin
    assert answer.status_code == 200 and page.app.get(cancelled).status == "cancelled"
    assert page.act(f"/cancel/{cancelled}").status_code == 409
    assert page.act(f"/ui/api/instances/{cancelled}/cancel").status_code == 405  # the page's old copy is gone
    paid = page.app.start("ui_order", "ORD-P")
    sent = page.act("/ui/api/events", {"type": "ui.paid", "data": {"order_id": "ORD-P", "amount": 3}, "instance": paid})
    assert sent.status_code == 202 and sent.json()["resumed"] == [{"instance_id": paid, "status": "completed"}]
    assert page.app.get(paid).output == {"order_id": "ORD-P", "paid": 3}
    assert page.act("/ui/api/events", {"data": {}}).status_code == 400


def test_advancing_time_needs_dev(page: Page) -> None:
    iid = page.app.start("ui_nap")
    refused = page.act("/ui/api/tick", {"advance": "2h"})
    assert refused.status_code == 403 and "--dev" in refused.json()["error"]
    assert page.app.get(iid).status == "waiting_for_timer"


def test_advancing_time_with_dev_fires_the_timer(dev_page: Page) -> None:
    iid = dev_page.app.start("ui_nap")
    assert 'data-kind="tick"' in dev_page.get(f"/ui/instances/{iid}").text
    answer = dev_page.act("/ui/api/tick", {"advance": "2h"})
    assert answer.status_code == 200 and iid in answer.json()["fired"]
    assert dev_page.app.get(iid).status == "completed"
    assert dev_page.act("/ui/api/tick", {"advance": "soon"}).status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://evil.example"},
                                     {"Referer": "http://evil.example/page"}, {"Origin": "null"}])
def test_page_action_without_same_origin_is_refused_and_changes_nothing(page: Page, headers: dict[str, str]) -> None:
    iid = page.app.start("ui_order", "ORD-X")
    answer = page.act("/ui/api/events", {"type": "ui.paid", "data": {"order_id": "ORD-X"}}, headers=headers)
    assert answer.status_code == 403 and page.app.get(iid).status == "waiting_for_event"
    assert page.app.list_events() == []


def test_page_action_from_a_same_origin_referer_or_as_a_form_is_judged_by_origin_then_type(page: Page) -> None:
    iid = page.app.start("ui_order", "ORD-R")
    form = requests.post(f"{page.url}/ui/api/events", data={"type": "ui.paid"}, timeout=10,
                         headers={"Referer": page.url + "/ui/instances/x"})
    assert form.status_code == 415 and page.app.list_events() == []
    answer = page.act("/ui/api/events", {"type": "ui.paid", "data": {"order_id": "ORD-R"}},
                      headers={"Referer": page.url + "/ui/instances/x"})
    assert answer.status_code == 202 and page.app.get(iid).status == "completed"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_cross_origin_post_to_the_public_routes_is_refused_and_changes_nothing(page: Page, origin: str) -> None:
    waiting = page.app.start("ui_order", "ORD-O")
    failed = page.app.start("ui_fail", "once")
    for path in (f"/cancel/{waiting}", f"/retry/{failed}"):
        answer = requests.post(page.url + path, headers={"Origin": origin}, timeout=10)
        assert answer.status_code == 403, path
        assert answer.json()["error_type"] == "Forbidden" and origin in answer.json()["error"]
    event = {"specversion": "1.0", "type": "ui.paid", "source": "t", "id": "x1", "data": {"order_id": "ORD-O"}}
    posted = requests.post(page.url + "/", json=event, timeout=10,
                           headers={"Content-Type": "application/cloudevents+json", "Origin": origin})
    assert posted.status_code == 403
    assert (page.app.get(waiting).status, page.app.get(failed).status) == ("waiting_for_event", "failed")
    assert page.app.list_events() == []


def test_post_without_origin_from_scripts_and_producers_still_works(page: Page) -> None:
    iid = page.app.start("ui_order", "ORD-S")
    event = {"specversion": "1.0", "type": "ui.note", "source": "t", "id": "n1", "data": {}}
    posted = requests.post(page.url + "/", json=event, timeout=10,
                           headers={"Content-Type": "application/cloudevents+json"})
    assert posted.status_code == 202 and "Origin" not in posted.request.headers
    answer = requests.post(f"{page.url}/cancel/{iid}", timeout=10)
    assert answer.status_code == 200 and page.app.get(iid).status == "cancelled"


def test_token_asked_once_then_kept_in_a_strict_httponly_cookie(token_page: Page) -> None:
    asked = token_page.get("/ui/events")
    assert asked.status_code == 401 and 'name="token"' in asked.text
    assert token_page.get("/instances", html=False).status_code == 401
    assert token_page.get("/ui/static/ui.css").status_code == 200  # the sign-in page needs it
    wrong = requests.post(token_page.url + "/ui/login", data={"token": "nope", "next": "/ui/events"},
                          headers=token_page.origin, timeout=10, allow_redirects=False)
    assert wrong.status_code == 401 and "not the server" in wrong.text and "Set-Cookie" not in wrong.headers
    signed = requests.post(token_page.url + "/ui/login", data={"token": "s3cret; x", "next": "//evil.example/"},
                           headers=token_page.origin, timeout=10, allow_redirects=False)
    assert signed.status_code == 303 and signed.headers["Location"] == "/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = signed.cookies
    assert token_page.get("/ui/events", cookies=jar).status_code == 200
    bearer = token_page.get("/ui/events", headers={"Authorization": "Bearer s3cret; x"})
    assert bearer.status_code == 200
    # The page polls the JSON routes with its cookie; from another origin the cookie does not help.
    assert token_page.get("/instances", html=False, cookies=jar).status_code == 200
    assert requests.get(token_page.url + "/instances/x", cookies=jar, timeout=10).status_code == 404
    iid = token_page.app.start("ui_order", "ORD-T")
    evil = requests.post(f"{token_page.url}/cancel/{iid}", cookies=jar, headers={"Origin": "http://evil.example"},
                         timeout=10)
    assert evil.status_code == 403 and token_page.app.get(iid).status == "waiting_for_event"


def test_login_is_refused_from_another_origin(token_page: Page) -> None:
    answer = requests.post(token_page.url + "/ui/login", data={"token": "s3cret; x"}, timeout=10,
                           headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert answer.status_code == 403 and "Set-Cookie" not in answer.headers


def test_schedules_page_renders_get_schedules_and_its_buttons_use_the_public_routes(page: Page) -> None:
    assert "No schedules" in page.get("/ui/schedules").text
    page.app.create_schedule("nightly<b>", "ui_nap", cron="0 3 * * *", note="<i>x</i>")
    html = page.get("/ui/schedules").text
    assert "nightly&lt;b&gt;" in html and "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" not in html
    assert 'data-action="/schedules/nightly%3Cb%3E/pause"' in html
    assert 'data-action="/schedules/nightly%3Cb%3E/trigger"' in html
    evil = page.act("/schedules/nightly%3Cb%3E/pause", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and page.app.get_schedule("nightly<b>").paused is False
    assert page.act("/schedules/nightly%3Cb%3E/pause").json()["paused"] is True
    assert 'data-action="/schedules/nightly%3Cb%3E/unpause"' in page.get("/ui/schedules").text
    triggered = page.act("/schedules/nightly%3Cb%3E/trigger").json()
    assert triggered["instance_id"].startswith("nightly<b>@") and triggered["status"] == "waiting_for_timer"
