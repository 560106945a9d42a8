"""serve_threads.ElasticThreads: how many waitress threads serve asks for, as requests begin and end."""

from __future__ import annotations

from typing import Any

from romancy_cli.serve_threads import ElasticThreads


def _begin(pool: ElasticThreads) -> Any:
    """A request begun: its body is not closed yet."""
    return pool({}, lambda *a: None)


def test_grows_one_thread_per_slow_request_up_to_the_maximum_then_shrinks() -> None:
    sizes: list[int] = []
    closed: list[bool] = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    pool = ElasticThreads(lambda environ, start_response: Body([b"ok"]), maximum=3,
                          resize=sizes.append, grow_after=0.0)
    bodies = [_begin(pool) for _ in range(4)]
    pool.adjust()
    assert sizes == [3] and pool.size == 3
    for body in bodies[:3]:
        assert list(body) == [b"ok"]
        body.close()
    pool.adjust()
    assert sizes == [3, 2]
    bodies[3].close()
    pool.adjust()
    assert sizes == [3, 2, 1] and closed == [True] * 4


def test_quick_requests_leave_one_thread() -> None:
    sizes: list[int] = []
    pool = ElasticThreads(lambda environ, start_response: [b"ok"], maximum=4, resize=sizes.append,
                          grow_after=60.0)
    body = _begin(pool)
    pool.adjust()
    body.close()
    pool.adjust()
    assert sizes == [] and pool.size == 1


def test_a_request_that_raises_is_not_counted_busy() -> None:
    def failing(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("boom")

    sizes: list[int] = []
    pool = ElasticThreads(failing, maximum=4, resize=sizes.append, grow_after=0.0)
    try:
        pool({}, lambda *a: None)
    except RuntimeError:
        pass
    pool.adjust()
    assert sizes == [] and pool.slow() == 0
