"""Drives every call of Durable Functions' real Python client against a durable server.

Run by tests/tests/df_clients.rs with DF_BINDING (the `durableClient` binding JSON the
Functions host would hand a client function) and PYTHONPATH pointing at the client that
scripts/df-clients.sh installed. Prints one JSON line per named check and exits non-zero if
any failed. A call that Durable Functions itself refuses is checked to be refused the same
way (the client's own reaction to DF's status code). Checks marked "needs": "rewind" use the
rewind route.
"""

import asyncio
import json
import os
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import azure.functions as func
import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

LABEL = os.environ.get("DF_CLIENT_LABEL", "python")
BINDING = os.environ["DF_BINDING"]
RUN = uuid.uuid4().hex[:8]
results = []


def emit(call, ok, detail=None, needs=None, differs=None):
    line = {"client": LABEL, "call": call, "ok": ok}
    if detail is not None:
        line["detail"] = detail
    if needs:
        line["needs"] = needs
    if differs:
        line["differs"] = differs
    results.append(ok)
    print(json.dumps(line), flush=True)


async def check(call, body, needs=None, differs=None):
    """Runs `body`; an exception or a failed assertion fails the check."""
    try:
        detail = await body()
        emit(call, True, detail, needs, differs)
    except Exception as error:  # noqa: BLE001 - every failure is reported, none stops the run
        emit(call, False, f"{type(error).__name__}: {error}", needs, differs)


async def refused(coro, contains=None):
    """Awaits `coro` and returns the exception it raised; fails if it raised none."""
    try:
        value = await coro
    except Exception as error:  # noqa: BLE001
        if contains is not None and contains not in str(error):
            raise AssertionError(f"refused, but with {error!r}, not {contains!r}")
        return str(error)
    raise AssertionError(f"expected a refusal, got {value!r}")


def status_name(status):
    value = status.runtime_status
    return value.value if value is not None else None


async def wait_for(client, instance_id, wanted, seconds=20):
    deadline = time.time() + seconds
    while True:
        status = await client.get_status(instance_id)
        if status and status_name(status) in wanted:
            return status
        if time.time() > deadline:
            raise AssertionError(
                f"{instance_id} is {status_name(status) if status else 'missing'}, not {wanted}")
        await asyncio.sleep(0.05)


def http_get(url):
    with urllib.request.urlopen(url) as response:  # 2xx only; others raise
        return response.status, json.loads(response.read() or b"null")


def http_post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read() or b"null")


async def main():
    client = df.DurableOrchestrationClient(BINDING)
    binding = json.loads(BINDING)
    started_at = datetime.now(timezone.utc) - timedelta(seconds=5)
    ids = {}

    # --- start_new -------------------------------------------------------------------
    async def start_without_id():
        ids["hello"] = await client.start_new("hello_cities", None, ["Tokyo", "Seattle"])
        assert isinstance(ids["hello"], str) and ids["hello"], ids["hello"]
        return ids["hello"]
    await check("start_new", start_without_id)

    async def start_with_id():
        wanted = f"py-chosen-{RUN}"
        got = await client.start_new("hello_cities", wanted, ["Oslo"])
        assert got == wanted, got
        ids["chosen"] = got
    await check("start_new_with_instance_id", start_with_id)

    inputs = {"null": None, "number": 42.5, "string": "some text", "bool": True,
              "object": {"a": [1, 2], "b": None}, "array": [1, "two", {"three": 3}]}
    for kind, value in inputs.items():
        async def start_echo(kind=kind, value=value):
            # This client JSON-encodes the input and sends that text as a JSON string (it
            # encodes every body twice). Durable Functions keeps that string as the input, and
            # so does an orchestration taking any JSON (`echo` takes a `serde_json::Value`):
            # the status shows the inner JSON text. Typed inputs are decoded once more (see
            # `hello_cities`, which takes a list of strings).
            instance = await client.start_new("echo", f"py-echo-{kind}-{RUN}", value)
            status = await wait_for(client, instance, ["Completed"])
            seen = status.output if value is None else json.loads(status.output)
            assert seen == value, (status.output, value)
            seen = status.input_ if value is None else json.loads(status.input_)
            assert seen == value, (status.input_, value)
        await check(f"start_new_input_{kind}", start_echo)

    async def start_unknown():
        return await refused(client.start_new("no_such_orchestrator", None, 1))
    await check("start_new_unknown_orchestrator_refused_400", start_unknown)

    # --- get_status --------------------------------------------------------------------
    async def status_completed():
        status = await wait_for(client, ids["hello"], ["Completed"])
        assert status.output == ["Hello Tokyo!", "Hello Seattle!"], status.output
        assert status.name == "hello_cities", status.name
        assert status.instance_id == ids["hello"]
        assert status.created_time is not None and status.last_updated_time is not None
    await check("get_status", status_completed)

    async def status_input():
        # Sent JSON-encoded twice (see `start_new_input_*`): shown as the inner JSON text.
        status = await client.get_status(ids["hello"], show_input=True)
        assert json.loads(status.input_) == ["Tokyo", "Seattle"], status.input_
    await check("get_status_show_input", status_input)

    async def status_history():
        status = await client.get_status(ids["hello"], show_history=True)
        history = getattr(status, "historyEvents", None)
        assert isinstance(history, list), f"historyEvents: {history!r}"
        types = [event["EventType"] for event in history]
        assert types[0] == "ExecutionStarted", types
        assert types[-1] == "ExecutionCompleted", types
        assert "OrchestratorStarted" not in types and "TaskScheduled" not in types, types
        completed = [e for e in history if e["EventType"] == "TaskCompleted"]
        assert len(completed) == 2, history
        assert completed[0]["FunctionName"] == "say_hello", completed[0]
        assert "ScheduledTime" in completed[0], completed[0]
        assert "Result" not in completed[0], completed[0]
        assert all(e["Timestamp"].endswith("Z") for e in history), history
        assert history[0]["FunctionName"] == "hello_cities", history[0]
        assert history[-1]["OrchestrationStatus"] == "Completed", history[-1]
        return types
    await check("get_status_show_history", status_history)

    async def status_history_output():
        status = await client.get_status(ids["hello"], show_history=True,
                                         show_history_output=True)
        history = status.historyEvents
        completed = [e for e in history if e["EventType"] == "TaskCompleted"]
        assert completed[0]["Result"] == "Hello Tokyo!", completed[0]
        assert history[-1]["Result"] == ["Hello Tokyo!", "Hello Seattle!"], history[-1]
    await check("get_status_show_history_output", status_history_output)

    async def status_unknown():
        status = await client.get_status(f"py-missing-{RUN}")
        assert not status, "a status for an unknown instance"
    await check("get_status_unknown_instance_404", status_unknown)

    async def status_running():
        ids["waiter"] = await client.start_new("waiter", f"py-waiter-{RUN}", None)
        status = await wait_for(client, ids["waiter"], ["Running"])
        assert status.custom_status == {"waiting": "go"}, status.custom_status
    await check("get_status_running", status_running)

    async def status_failed():
        ids["failed"] = await client.start_new("fails_once", f"py-fails-{RUN}", f"py-{RUN}")
        status = await wait_for(client, ids["failed"], ["Failed"])
        assert "first attempt fails" in json.dumps(status.output), status.output
    await check("get_status_failed", status_failed)

    # --- get_status_all / get_status_by --------------------------------------------------
    async def status_all():
        statuses = await client.get_status_all()
        found = {s.instance_id for s in statuses}
        assert {ids["hello"], ids["chosen"], ids["waiter"]} <= found, found
    await check("get_status_all", status_all)

    async def status_by_runtime_status():
        statuses = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Running])
        found = {s.instance_id for s in statuses}
        assert ids["waiter"] in found and ids["hello"] not in found, found
        assert all(status_name(s) == "Running" for s in statuses)
    await check("get_status_by_runtime_status", status_by_runtime_status)

    async def status_by_created_time():
        now = datetime.now(timezone.utc) + timedelta(minutes=1)
        statuses = await client.get_status_by(created_time_from=started_at, created_time_to=now)
        found = {s.instance_id for s in statuses}
        assert ids["hello"] in found, found
        later = await client.get_status_by(created_time_from=now)
        assert later == [], later
    await check("get_status_by_created_time", status_by_created_time)

    async def status_by_prefix():
        statuses = await client.get_status_by(instance_id_prefix=f"py-chosen-{RUN}")
        assert [s.instance_id for s in statuses] == [ids["chosen"]], statuses
    await check("get_status_by_instance_id_prefix", status_by_prefix)

    # --- raise_event -------------------------------------------------------------------
    async def raise_event():
        # The data arrives JSON-encoded twice, like every body of this client: `waiter` takes
        # any JSON, so it sees the inner text (as a Durable Functions orchestrator would).
        await client.raise_event(ids["waiter"], "go", {"answer": 42})
        status = await wait_for(client, ids["waiter"], ["Completed"])
        assert json.loads(status.output) == {"answer": 42}, status.output
    await check("raise_event", raise_event)

    async def raise_completed():
        return await refused(client.raise_event(ids["hello"], "go", 1), "is gone")
    await check("raise_event_completed_refused_410", raise_completed)

    async def raise_unknown():
        return await refused(client.raise_event(f"py-missing-{RUN}", "go", 1), "No instance")
    await check("raise_event_unknown_refused_404", raise_unknown)

    # --- suspend / resume / terminate ----------------------------------------------------
    async def suspend():
        ids["held"] = await client.start_new("waiter", f"py-held-{RUN}", None)
        await wait_for(client, ids["held"], ["Running"])
        await client.suspend(ids["held"], "hold on")
        await wait_for(client, ids["held"], ["Suspended"])
    await check("suspend", suspend)

    async def resume():
        await client.resume(ids["held"], "go on")
        await wait_for(client, ids["held"], ["Running"])
    await check("resume", resume)

    async def suspend_completed():
        # DF answers 410, which this client takes silently.
        await client.suspend(ids["hello"], "too late")
        await client.resume(ids["hello"], "too late")
        status = await client.get_status(ids["hello"])
        assert status_name(status) == "Completed", status_name(status)
    await check("suspend_resume_completed_410_ignored", suspend_completed)

    async def suspend_unknown():
        await refused(client.suspend(f"py-missing-{RUN}", "x"), "No instance")
        return await refused(client.resume(f"py-missing-{RUN}", "x"), "No instance")
    await check("suspend_resume_unknown_refused_404", suspend_unknown)

    async def terminate():
        await client.terminate(ids["held"], "enough")
        status = await wait_for(client, ids["held"], ["Terminated"])
        assert status.output == "enough", status.output
    await check("terminate", terminate)

    async def terminate_completed():
        await client.terminate(ids["hello"], "too late")  # DF: 410, taken silently
        status = await client.get_status(ids["hello"])
        assert status_name(status) == "Completed", status_name(status)
    await check("terminate_completed_410_ignored", terminate_completed)

    async def terminate_unknown():
        return await refused(client.terminate(f"py-missing-{RUN}", "x"), "No instance")
    await check("terminate_unknown_refused_404", terminate_unknown)

    # --- rewind ------------------------------------------------------------------------
    async def rewind():
        await client.rewind(ids["failed"], "try again")
        status = await wait_for(client, ids["failed"], ["Completed"])
        # The key reached the orchestration as the inner JSON text (the client encodes twice).
        assert status.output == json.dumps(f"py-{RUN}") + ": done", status.output
    await check("rewind", rewind, needs="rewind")

    async def rewind_unknown():
        return await refused(client.rewind(f"py-missing-{RUN}", "x"), "No instance")
    await check("rewind_unknown_refused_404", rewind_unknown, needs="rewind")

    async def rewind_completed():
        return await refused(client.rewind(ids["hello"], "x"), "only supported on failed")
    await check("rewind_completed_refused_410", rewind_completed, needs="rewind")

    async def rewind_terminated():
        return await refused(client.rewind(ids["held"], "x"), "only supported on failed")
    await check("rewind_terminated_refused_410", rewind_terminated, needs="rewind")

    # --- restart -----------------------------------------------------------------------
    async def restart():
        answer = await client.restart(ids["chosen"])
        # The client returns the 202 body DF sends (its check-status payload).
        new_id = answer["id"] if isinstance(answer, dict) else answer
        assert new_id != ids["chosen"], answer
        status = await wait_for(client, new_id, ["Completed"])
        assert status.output == ["Hello Oslo!"], status.output
    await check("restart", restart)

    async def restart_same_id():
        answer = await client.restart(ids["chosen"], restart_with_new_instance_id=False)
        same = answer["id"] if isinstance(answer, dict) else answer
        assert same == ids["chosen"], answer
        await wait_for(client, same, ["Completed"])
    await check("restart_same_instance_id", restart_same_id)

    async def restart_unknown():
        return await refused(client.restart(f"py-missing-{RUN}"), "400")
    await check("restart_unknown_refused_400", restart_unknown)

    # --- HTTP responses and payloads ----------------------------------------------------
    request = func.HttpRequest("POST", binding["baseUrl"] + "/../../../api/start", body=b"")

    async def check_status_response():
        response = client.create_check_status_response(request, ids["hello"])
        assert response.status_code == 202, response.status_code
        assert response.headers["Retry-After"] == "10"
        payload = json.loads(response.get_body())
        assert response.headers["Location"] == payload["statusQueryGetUri"]
        code, body = http_get(payload["statusQueryGetUri"])
        assert code == 200 and body["instanceId"] == ids["hello"], (code, body)
    await check("create_check_status_response", check_status_response)

    async def management_payload():
        payload = client.create_http_management_payload(ids["hello"])
        for key in ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                    "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri",
                    "suspendPostUri", "resumePostUri"]:
            assert ids["hello"] in payload[key], (key, payload)
        code, body = http_get(payload["statusQueryGetUri"])
        assert code == 200 and body["runtimeStatus"] == "Completed", (code, body)
    await check("create_http_management_payload", management_payload)

    async def server_payload():
        # The server's own check-status body names the same URLs the host's binding does.
        url = binding["creationUrls"]["createNewInstancePostUri"] \
            .replace("{functionName}", "hello_cities").replace("[/{instanceId}]", "")
        code, body = http_post(url, ["Lima"])
        assert code == 202, code
        ours = client.create_http_management_payload(body["id"])
        for key, value in body.items():
            assert ours.get(key) == value, (key, value, ours.get(key))
        return sorted(body)
    await check("server_check_status_body_matches_binding", server_payload)

    async def wait_completed():
        instance = await client.start_new("hello_cities", None, ["Rome"])
        response = await client.wait_for_completion_or_create_check_status_response(
            request, instance, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=50)
        assert response.status_code == 200, response.status_code
        assert json.loads(response.get_body()) == ["Hello Rome!"], response.get_body()
    await check("wait_for_completion_or_create_check_status_response", wait_completed)

    async def wait_timeout():
        instance = await client.start_new("waiter", None, None)
        response = await client.wait_for_completion_or_create_check_status_response(
            request, instance, timeout_in_milliseconds=600, retry_interval_in_milliseconds=200)
        assert response.status_code == 202, response.status_code
        await client.terminate(instance, "done")
    await check("wait_for_completion_or_create_check_status_response_timeout", wait_timeout)

    async def wait_failed():
        instance = await client.start_new("fails_once", None, f"py-wait-{RUN}")
        response = await client.wait_for_completion_or_create_check_status_response(
            request, instance, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=50)
        assert response.status_code == 500, response.status_code
    await check("wait_for_completion_or_create_check_status_response_failed", wait_failed)

    # --- entities ----------------------------------------------------------------------
    counter = df.EntityId("Counter", f"py-{RUN}")

    async def signal():
        await client.signal_entity(counter, "add", 5)
        await client.signal_entity(counter, "add", 2)
        deadline = time.time() + 20
        while True:
            state = await client.read_entity_state(counter)
            if state.entity_exists and state.entity_state == {"value": 7}:
                return state.entity_state
            assert time.time() < deadline, state.entity_state
            await asyncio.sleep(0.05)
    await check("signal_entity", signal)

    async def read_state():
        state = await client.read_entity_state(counter)
        assert state.entity_exists and state.entity_state == {"value": 7}, state.entity_state
    await check("read_entity_state", read_state)

    async def signal_no_input():
        await client.signal_entity(counter, "reset")
        deadline = time.time() + 20
        while (await client.read_entity_state(counter)).entity_state != {"value": 0}:
            assert time.time() < deadline
            await asyncio.sleep(0.05)
    await check("signal_entity_without_input", signal_no_input)

    async def read_unknown():
        state = await client.read_entity_state(df.EntityId("Counter", f"py-none-{RUN}"))
        assert not state.entity_exists and state.entity_state is None
    await check("read_entity_state_unknown_404", read_unknown)

    async def signal_unregistered():
        return await refused(client.signal_entity(df.EntityId("NoSuchEntity", "k"), "add", 1),
                             "404")
    await check("signal_entity_unregistered_refused_404", signal_unregistered,
                differs="DF accepts (202) a signal to an entity no function implements")

    async def signal_no_operation():
        return await refused(client.signal_entity(counter, ""), "400")
    await check("signal_entity_without_operation_refused_400", signal_no_operation,
                differs="DF accepts (202) a signal without an operation name")

    # --- purge -------------------------------------------------------------------------
    async def purge_one():
        result = await client.purge_instance_history(ids["chosen"])
        assert result.instances_deleted == 1, result.instances_deleted
        assert not await client.get_status(ids["chosen"])
    await check("purge_instance_history", purge_one)

    async def purge_unknown():
        result = await client.purge_instance_history(f"py-missing-{RUN}")
        assert result.instances_deleted == 0, result.instances_deleted
    await check("purge_instance_history_unknown_404", purge_unknown)

    async def purge_running():
        instance = await client.start_new("waiter", f"py-running-{RUN}", None)
        await wait_for(client, instance, ["Running"])
        error = await refused(client.purge_instance_history(instance), "412")
        assert await client.get_status(instance), "the running instance was purged"
        await client.terminate(instance, "done")
        return error
    await check("purge_instance_history_running_refused_412", purge_running)

    async def purge_by():
        result = await client.purge_instance_history_by(
            created_time_from=started_at,
            runtime_status=[OrchestrationRuntimeStatus.Completed])
        assert result.instances_deleted >= 5, result.instances_deleted
        assert not await client.get_status(ids["hello"])
    await check("purge_instance_history_by", purge_by)

    async def purge_by_nothing():
        result = await client.purge_instance_history_by(
            created_time_from=datetime.now(timezone.utc) + timedelta(days=1))
        assert result.instances_deleted == 0, result.instances_deleted
    await check("purge_instance_history_by_nothing_404", purge_by_nothing)

    async def purge_by_without_from():
        with_error = None
        try:
            await client.purge_instance_history_by()
        except ValueError as error:
            with_error = str(error)
        assert with_error, "no error without created_time_from"
        return with_error
    await check("purge_instance_history_by_without_from_refused", purge_by_without_from)


asyncio.run(main())
sys.exit(0 if all(results) else 1)
