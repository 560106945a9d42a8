"""The pytest plugin (`romancy_app`), as a user's test suite sees it: pytest run in a subprocess on a
folder of test files, finding the plugin through the `pytest11` entry point of the installed
package."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PAYMENT = '''
from romancy_cli import EventTimeout, Registry, activity, wait_event, workflow

registry = Registry()


@activity(registry=registry)
def charge(ctx, order_id: str) -> str:
    return "charged " + order_id


@workflow("pay", registry=registry)
def pay(ctx, order_id: str) -> str:
    try:
        wait_event(ctx, "paid", timeout="5m", match={"order_id": order_id})
    except EventTimeout:
        return "timed out"
    return charge.execute(ctx, order_id)


def test_an_unpaid_order_times_out_without_waiting(romancy_app):
    instance_id = pay.start(romancy_app, "ORD-1")
    romancy_app.assert_status(instance_id, "waiting_for_event")
    romancy_app.advance("5m")
    romancy_app.assert_status(instance_id, "completed")
    assert romancy_app.get(instance_id).output == "timed out"


def test_a_paid_order_is_charged(romancy_app):
    instance_id = pay.start(romancy_app, "ORD-2")
    romancy_app.send_event("paid", {"order_id": "ORD-2"})
    romancy_app.assert_status(instance_id, "completed")
    assert romancy_app.steps(instance_id) == [("event", "paid"), ("activity", "charge")]
    print("DATABASE", romancy_app.database)
'''


def test_romancy_app_skips_time_and_checks_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_payment=PAYMENT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=2)
    assert "romancy.db" in result.stdout.str()  # a SQLite file of the test's own


def test_two_modules_may_define_the_same_workflow_name(pytester: pytest.Pytester) -> None:
    other = PAYMENT.replace('return "timed out"', 'return "expired"').replace(
        '== "timed out"', '== "expired"')
    pytester.makepyfile(test_one=PAYMENT, test_two=other)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_assert_status_says_why_not(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wrong=PAYMENT + '''

def test_expects_the_wrong_status(romancy_app):
    instance_id = pay.start(romancy_app, "ORD-3")
    romancy_app.assert_status(instance_id, "completed")
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*is waiting_for_event, not completed*waiting: Wait(kind='event'*"])


def test_romancy_db_runs_the_same_tests_on_postgresql(pytester: pytest.Pytester, pg_url: str) -> None:
    pytester.makepyfile(test_payment=PAYMENT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", f"--romancy-db={pg_url}")
    result.assert_outcomes(passed=2)
    assert "DATABASE postgresql://" in result.stdout.str() and "search_path%3Dromancy_test_" in result.stdout.str()
    import psycopg

    with psycopg.connect(pg_url) as conn:  # each test's schema is dropped afterwards
        left = conn.execute("SELECT count(*) FROM information_schema.schemata "
                            "WHERE schema_name LIKE 'romancy_test_%'").fetchone()
    assert left == (0,)


PLAIN = PAYMENT.replace("from romancy_cli import EventTimeout, Registry,", "from romancy_cli import EventTimeout,") \
    .replace("registry = Registry()\n", "").replace("@activity(registry=registry)", "@activity") \
    .replace('@workflow("pay", registry=registry)', '@workflow("pay")')


def test_plain_decorators_in_two_test_modules_need_no_registry(pytester: pytest.Pytester) -> None:
    assert "registry" not in PLAIN
    other = PLAIN.replace('return "timed out"', 'return "expired"').replace('== "timed out"', '== "expired"')
    pytester.makepyfile(test_one=PLAIN, test_two=other)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert "defined twice" not in result.stdout.str()


def test_a_test_module_runs_its_own_workflows_with_those_it_imports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shop='''
from romancy_cli import workflow


@workflow("ship")
def ship(ctx, order_id: str) -> str:
    return "shipped " + order_id
''')
    pytester.makepyfile(test_shop='''
from romancy_cli import workflow
import shop


@workflow("pay")
def pay(ctx, order_id: str) -> str:
    return "paid " + order_id


def test_both_run(romancy_app):
    assert romancy_app.get(pay.start(romancy_app, "A")).output == "paid A"
    assert romancy_app.get(shop.ship.start(romancy_app, "B")).output == "shipped B"
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_name_two_test_modules_define_is_refused_by_the_default_registry(pytester: pytest.Pytester) -> None:
    direct = '''
from romancy_cli import App, workflow


@workflow("pay")
def pay(ctx) -> str:
    return "{WHO}"


def test_direct_app(tmp_path):
    with App(str(tmp_path / "r.db")) as app:
        app.start("pay")
'''
    pytester.makepyfile(test_one=direct.replace("{WHO}", "one"), test_two=direct.replace("{WHO}", "two"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    assert "workflow 'pay' is defined in several test modules" in result.stdout.str()
    assert "use the romancy_app fixture, or App(registry=...)" in result.stdout.str()
