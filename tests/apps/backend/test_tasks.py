"""The feature path end to end: API -> real Redis -> real Celery worker -> PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.apps.backend.helpers import wait_until

pytestmark = pytest.mark.services


def _poll(api, task_id: str, until: str = "SUCCESS", timeout: float = 20):
    def done():
        resp = api.get(f"/tasks/{task_id}")
        assert resp.status == 200, resp.body
        return resp if resp.body["state"] == until else None

    return wait_until(done, timeout, 0.1, f"task {task_id} to reach {until}")


def test_task_round_trip_through_redis_worker_and_postgres(env, processes, pg_server, migrated_db) -> None:
    processes.worker(env)
    api = processes.api(env)

    accepted = api.post("/tasks", {"n": 97})
    assert accepted.status == 202, accepted.body
    task_id = accepted.body["task_id"]
    assert uuid.UUID(task_id)
    assert accepted.body["state"] == "PENDING"
    assert accepted.body["status_url"] == f"/api/v1/tasks/{task_id}"
    assert accepted.headers["location"] == accepted.body["status_url"]

    done = _poll(api, task_id)
    expected = {
        "n": 97,
        "sum": 4753,
        "sum_of_squares": 308945,
        "fibonacci": "83621143489848422977",
        "prime_count": 25,
        "is_prime": True,
    }
    assert done.body == {"task_id": task_id, "state": "SUCCESS", "result": expected, "error": None}

    database = migrated_db.rsplit("/", 1)[1]
    rows = pg_server.execute(f"SELECT task_name, n, result FROM task_results WHERE task_id = '{task_id}'", database)
    assert rows == [("mbhealth.analyze_number", 97, expected)]


def test_result_survives_in_postgres_after_redis_forgets_it(env, processes, redis_session) -> None:
    processes.worker(env)
    api = processes.api(env)
    task_id = api.post("/tasks", {"n": 10}).body["task_id"]
    _poll(api, task_id)

    # The result backend's copy expires (result_expires) or is lost with Redis' memory.
    assert redis_session.command("DEL", f"celery-task-meta-{task_id}").endswith(b":1\r\n")
    again = api.get(f"/tasks/{task_id}")
    assert again.body["state"] == "SUCCESS"
    assert again.body["result"]["fibonacci"] == "55"


INVALID_BODIES = {
    "empty": {},
    "zero": {"n": 0},
    "too-big": {"n": 1001},
    "negative": {"n": -5},
    "string": {"n": "12"},
    "float": {"n": 2.5},
    "bool": {"n": True},
    "null": {"n": None},
    "list": [],
    "wrong-key": {"m": 3},
}


def test_invalid_input_is_rejected_and_unknown_ids_read_pending(env, processes) -> None:
    api = processes.api(env)
    for case, body in INVALID_BODIES.items():
        resp = api.post("/tasks", body)
        assert resp.status == 422, f"{case}: {resp.status} {resp.body}"
    assert api.get("/tasks/not-a-uuid").status == 422
    unknown = api.get(f"/tasks/{uuid.uuid4()}")
    assert unknown.status == 200
    assert unknown.body["state"] == "PENDING" and unknown.body["result"] is None


def test_analyze_edge_cases() -> None:
    from mbhealth.tasks import analyze

    assert analyze(1) == {"n": 1, "sum": 1, "sum_of_squares": 1, "fibonacci": "1", "prime_count": 0, "is_prime": False}
    assert analyze(2)["is_prime"] and analyze(2)["prime_count"] == 1
    big = analyze(1000)
    assert big["prime_count"] == 168 and len(big["fibonacci"]) == 209 and big["sum"] == 500500
    for bad in (0, 1001, True, 3.0, "7"):
        with pytest.raises(ValueError):
            analyze(bad)  # type: ignore[arg-type]
