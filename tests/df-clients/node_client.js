// Drives every call of Durable Functions' real JavaScript client against a durable server.
//
// Run by tests/tests/df_clients.rs with DF_BINDING (the `durableClient` binding JSON the
// Functions host would hand a client function: with `rpcBaseUrl` the client runs in RPC mode,
// without it in webhook mode, through `managementUrls`, `baseUrl` and
// `requiredQueryStringParameters`), NODE_PATH pointing at the client that
// scripts/df-clients.sh installed, and WEBSITE_HOSTNAME set as the Functions host sets it.
// Prints one JSON line per named check and exits non-zero if any failed. A call that Durable
// Functions itself refuses is checked to be refused the same way (the client's own reaction
// to DF's status code). Checks marked "needs": "rewind" use the rewind route.
"use strict";

const df = require("durable-functions");
const { HttpRequest } = require("@azure/functions");

const LABEL = process.env.DF_CLIENT_LABEL || "node";
const BINDING = JSON.parse(process.env.DF_BINDING);
const RUN = Math.random().toString(16).slice(2, 10);
const PREFIX = `${LABEL}-${RUN}`;
const results = [];

function emit(call, ok, detail, extra = {}) {
    const line = { client: LABEL, call, ok };
    if (detail !== undefined) line.detail = detail;
    Object.assign(line, extra);
    results.push(ok);
    console.log(JSON.stringify(line));
}

async function check(call, body, extra = {}) {
    try {
        emit(call, true, await body(), extra);
    } catch (error) {
        emit(call, false, `${error && error.name}: ${error && error.message}`, extra);
    }
}

function assert(condition, message) {
    if (!condition) throw new Error(`assertion failed: ${message}`);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function refused(promise, contains) {
    let value;
    try {
        value = await promise;
    } catch (error) {
        const text = String(error && error.message);
        if (contains !== undefined && !text.includes(contains)) {
            throw new Error(`refused, but with ${JSON.stringify(text)}, not ${JSON.stringify(contains)}`);
        }
        return text;
    }
    throw new Error(`expected a refusal, got ${JSON.stringify(value)}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(client, instanceId, wanted, seconds = 20) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        const status = await client.getStatus(instanceId);
        if (wanted.includes(status.runtimeStatus)) return status;
        if (Date.now() > deadline) {
            throw new Error(`${instanceId} is ${status.runtimeStatus}, not ${wanted}`);
        }
        await sleep(50);
    }
}

/// The client as a function's code gets it: `df.getClient(context)` on an invocation context
/// whose durable client input holds the binding data.
function clientFromBinding() {
    const input = df.input.durableClient();
    const context = {
        options: { extraInputs: [input] },
        extraInputs: { get: (wanted) => (wanted === input ? BINDING : undefined) },
    };
    return df.getClient(context);
}

async function main() {
    const client = clientFromBinding();
    const startedAt = new Date(Date.now() - 5000);
    const ids = {};
    const Status = df.OrchestrationRuntimeStatus;

    // --- startNew ----------------------------------------------------------------------
    await check("startNew", async () => {
        ids.hello = await client.startNew("hello_cities", { input: ["Tokyo", "Seattle"] });
        assert(typeof ids.hello === "string" && ids.hello.length > 0, ids.hello);
        return ids.hello;
    });
    await check("startNew_with_instanceId", async () => {
        const wanted = `${PREFIX}-chosen`;
        ids.chosen = await client.startNew("hello_cities", { instanceId: wanted, input: ["Oslo"] });
        assert(ids.chosen === wanted, ids.chosen);
    });
    const inputs = {
        none: undefined, null: null, number: 42.5, string: "some text", bool: false,
        object: { a: [1, 2], b: null }, array: [1, "two", { three: 3 }],
    };
    for (const [kind, value] of Object.entries(inputs)) {
        await check(`startNew_input_${kind}`, async () => {
            const options = { instanceId: `${PREFIX}-echo-${kind}` };
            if (kind !== "none") options.input = value;
            const instance = await client.startNew("echo", options);
            const status = await waitFor(client, instance, [Status.Completed]);
            // Without an input this client sends the body `""`: the input is the empty
            // string, in Durable Functions as here.
            const expected = value === undefined ? "" : value;
            assert(same(status.output, expected), `${JSON.stringify(status.output)} vs ${JSON.stringify(expected)}`);
        });
    }
    await check("startNew_unknown_orchestrator_refused_400", async () =>
        refused(client.startNew("no_such_orchestrator", { input: 1 }), "400"));

    // --- getStatus ---------------------------------------------------------------------
    await check("getStatus", async () => {
        const status = await waitFor(client, ids.hello, [Status.Completed]);
        assert(same(status.output, ["Hello Tokyo!", "Hello Seattle!"]), JSON.stringify(status.output));
        assert(status.name === "hello_cities" && status.instanceId === ids.hello, status.name);
        assert(!isNaN(status.createdTime.getTime()) && !isNaN(status.lastUpdatedTime.getTime()), "times");
    });
    await check("getStatus_showInput", async () => {
        const status = await client.getStatus(ids.hello, { showInput: true });
        assert(same(status.input, ["Tokyo", "Seattle"]), JSON.stringify(status.input));
    });
    await check("getStatus_showInput_false", async () => {
        // In RPC mode this client leaves `showInput=false` out of the URL (it adds only true
        // flags), so the input comes back, as from Durable Functions; the webhook URLs carry it.
        const status = await client.getStatus(ids.hello, { showInput: false });
        const expected = BINDING.rpcBaseUrl ? ["Tokyo", "Seattle"] : null;
        assert(same(status.input, expected), JSON.stringify(status.input));
    });
    await check("getStatus_showHistory", async () => {
        // The client keeps a `history` field the extension never sends (it sends
        // `historyEvents`): the call must work, the events are checked by the Python driver.
        const status = await client.getStatus(ids.hello, { showHistory: true, showHistoryOutput: true });
        assert(status.runtimeStatus === Status.Completed, status.runtimeStatus);
    });
    await check("getStatus_unknown_instance_refused_404", async () =>
        refused(client.getStatus(`${PREFIX}-missing`), "404"));
    await check("getStatus_running", async () => {
        ids.waiter = await client.startNew("waiter", { instanceId: `${PREFIX}-waiter` });
        const status = await waitFor(client, ids.waiter, [Status.Running]);
        assert(same(status.customStatus, { waiting: "go" }), JSON.stringify(status.customStatus));
    });
    await check("getStatus_failed", async () => {
        ids.failed = await client.startNew("fails_once", { instanceId: `${PREFIX}-fails`, input: PREFIX });
        const status = await waitFor(client, ids.failed, [Status.Failed]);
        assert(JSON.stringify(status.output).includes("first attempt fails"), JSON.stringify(status.output));
    });

    // --- getStatusAll / getStatusBy ----------------------------------------------------
    await check("getStatusAll", async () => {
        const found = new Set((await client.getStatusAll()).map((s) => s.instanceId));
        for (const id of [ids.hello, ids.chosen, ids.waiter]) assert(found.has(id), id);
    });
    await check("getStatusBy_runtimeStatus", async () => {
        const statuses = await client.getStatusBy({ runtimeStatus: [Status.Running] });
        const found = new Set(statuses.map((s) => s.instanceId));
        assert(found.has(ids.waiter) && !found.has(ids.hello), [...found]);
        assert(statuses.every((s) => s.runtimeStatus === "Running"), "statuses");
    });
    await check("getStatusBy_createdTime", async () => {
        const later = new Date(Date.now() + 60000);
        const statuses = await client.getStatusBy({ createdTimeFrom: startedAt, createdTimeTo: later });
        assert(statuses.some((s) => s.instanceId === ids.hello), "hello");
        const none = await client.getStatusBy({ createdTimeFrom: later });
        assert(none.length === 0, JSON.stringify(none));
    });

    // --- raiseEvent --------------------------------------------------------------------
    await check("raiseEvent", async () => {
        await client.raiseEvent(ids.waiter, "go", { answer: 42 });
        const status = await waitFor(client, ids.waiter, [Status.Completed]);
        assert(same(status.output, { answer: 42 }), JSON.stringify(status.output));
    });
    await check("raiseEvent_completed_410_ignored", async () => {
        await client.raiseEvent(ids.hello, "go", 1); // DF: 410, which this client takes silently
    });
    await check("raiseEvent_unknown_refused_404", async () =>
        refused(client.raiseEvent(`${PREFIX}-missing`, "go", 1), "No instance"));

    // --- suspend / resume / terminate --------------------------------------------------
    await check("suspend", async () => {
        ids.held = await client.startNew("waiter", { instanceId: `${PREFIX}-held` });
        await waitFor(client, ids.held, [Status.Running]);
        await client.suspend(ids.held, "hold on");
        await waitFor(client, ids.held, [Status.Suspended]);
    });
    await check("resume", async () => {
        await client.resume(ids.held, "go on");
        await waitFor(client, ids.held, [Status.Running]);
    });
    await check("suspend_resume_completed_410_ignored", async () => {
        await client.suspend(ids.hello, "too late");
        await client.resume(ids.hello, "too late");
        assert((await client.getStatus(ids.hello)).runtimeStatus === Status.Completed, "still completed");
    });
    await check("suspend_resume_unknown_refused_404", async () => {
        await refused(client.suspend(`${PREFIX}-missing`, "x"), "No instance");
        return refused(client.resume(`${PREFIX}-missing`, "x"), "No instance");
    });
    await check("terminate", async () => {
        await client.terminate(ids.held, "enough");
        const status = await waitFor(client, ids.held, [Status.Terminated]);
        assert(status.output === "enough", JSON.stringify(status.output));
    });
    await check("terminate_completed_410_ignored", async () => {
        await client.terminate(ids.hello, "too late");
        assert((await client.getStatus(ids.hello)).runtimeStatus === Status.Completed, "still completed");
    });
    await check("terminate_unknown_refused_404", async () =>
        refused(client.terminate(`${PREFIX}-missing`, "x"), "No instance"));

    // --- rewind ------------------------------------------------------------------------
    const rewind = { needs: "rewind" };
    await check("rewind", async () => {
        await client.rewind(ids.failed, "try again");
        const status = await waitFor(client, ids.failed, [Status.Completed]);
        assert(status.output === `${PREFIX}: done`, JSON.stringify(status.output));
    }, rewind);
    await check("rewind_unknown_refused_404", async () =>
        refused(client.rewind(`${PREFIX}-missing`, "x")), rewind);
    // DF answers 410, which this client reports as an unexpected status code.
    await check("rewind_completed_refused_410", async () =>
        refused(client.rewind(ids.hello, "x"), "410"), rewind);
    await check("rewind_terminated_refused_410", async () =>
        refused(client.rewind(ids.held, "x"), "410"), rewind);

    // --- HTTP responses and payloads ---------------------------------------------------
    const request = new HttpRequest({ method: "POST", url: `http://${process.env.WEBSITE_HOSTNAME}/api/start` });
    await check("createCheckStatusResponse", async () => {
        const response = client.createCheckStatusResponse(request, ids.hello);
        assert(response.status === 202, response.status);
        assert(response.headers.get("Retry-After") === "10", "Retry-After");
        const payload = await response.json();
        assert(response.headers.get("Location") === payload.statusQueryGetUri, "Location");
        const answer = await fetch(payload.statusQueryGetUri);
        const body = await answer.json();
        assert(answer.status === 200 && body.instanceId === ids.hello, `${answer.status} ${JSON.stringify(body)}`);
    });
    await check("createHttpManagementPayload", async () => {
        const payload = client.createHttpManagementPayload(ids.hello);
        for (const key of ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
            "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"]) {
            assert(payload[key].includes(ids.hello), `${key}: ${payload[key]}`);
        }
        const answer = await fetch(payload.statusQueryGetUri);
        assert(answer.status === 200, answer.status);
    });
    await check("server_check_status_body_matches_binding", async () => {
        const url = BINDING.creationUrls.createNewInstancePostUri
            .replace("{functionName}", "hello_cities").replace("[/{instanceId}]", "");
        const answer = await fetch(url, {
            method: "POST", body: JSON.stringify(["Lima"]), headers: { "Content-Type": "application/json" },
        });
        assert(answer.status === 202, answer.status);
        const body = await answer.json();
        const ours = client.createHttpManagementPayload(body.id);
        for (const [key, value] of Object.entries(body)) {
            assert(ours[key] === value, `${key}: server ${value}, binding ${ours[key]}`);
        }
        return Object.keys(body).sort();
    });
    await check("waitForCompletionOrCreateCheckStatusResponse", async () => {
        const instance = await client.startNew("hello_cities", { input: ["Rome"] });
        const response = await client.waitForCompletionOrCreateCheckStatusResponse(request, instance,
            { timeoutInMilliseconds: 20000, retryIntervalInMilliseconds: 50 });
        assert(response.status === 200, response.status);
        const body = await response.json();
        assert(same(body, ["Hello Rome!"]), JSON.stringify(body));
    });
    await check("waitForCompletionOrCreateCheckStatusResponse_timeout", async () => {
        const instance = await client.startNew("waiter");
        const response = await client.waitForCompletionOrCreateCheckStatusResponse(request, instance,
            { timeoutInMilliseconds: 600, retryIntervalInMilliseconds: 200 });
        assert(response.status === 202, response.status);
        await client.terminate(instance, "done");
    });
    await check("waitForCompletionOrCreateCheckStatusResponse_failed", async () => {
        const instance = await client.startNew("fails_once", { input: `${PREFIX}-wait` });
        const response = await client.waitForCompletionOrCreateCheckStatusResponse(request, instance,
            { timeoutInMilliseconds: 20000, retryIntervalInMilliseconds: 50 });
        assert(response.status === 500, response.status);
    });

    // --- entities ----------------------------------------------------------------------
    const counter = new df.EntityId("Counter", PREFIX);
    const stateOf = async (id) => client.readEntityState(id);
    await check("signalEntity", async () => {
        await client.signalEntity(counter, "add", 5);
        await client.signalEntity(counter, "add", 2);
        const deadline = Date.now() + 20000;
        for (;;) {
            const state = await stateOf(counter);
            if (state.entityExists && same(state.entityState, { value: 7 })) return state.entityState;
            assert(Date.now() < deadline, JSON.stringify(state));
            await sleep(50);
        }
    });
    await check("readEntityState", async () => {
        const state = await stateOf(counter);
        assert(state.entityExists && same(state.entityState, { value: 7 }), JSON.stringify(state));
    });
    await check("signalEntity_without_input", async () => {
        await client.signalEntity(counter, "reset");
        const deadline = Date.now() + 20000;
        while (!same((await stateOf(counter)).entityState, { value: 0 })) {
            assert(Date.now() < deadline, "reset");
            await sleep(50);
        }
    });
    await check("readEntityState_unknown_404", async () => {
        const state = await stateOf(new df.EntityId("Counter", `${PREFIX}-none`));
        assert(!state.entityExists, JSON.stringify(state));
    });
    await check("signalEntity_unregistered_refused_404", async () =>
        refused(client.signalEntity(new df.EntityId("NoSuchEntity", "k"), "add", 1), "404"),
    { differs: "DF accepts (202) a signal to an entity no function implements" });
    await check("signalEntity_without_operation_refused_400", async () =>
        refused(client.signalEntity(counter, ""), "400"),
    { differs: "DF accepts (202) a signal without an operation name" });

    // --- purge -------------------------------------------------------------------------
    await check("purgeInstanceHistory", async () => {
        const result = await client.purgeInstanceHistory(ids.chosen);
        assert(result.instancesDeleted === 1, JSON.stringify(result));
        await refused(client.getStatus(ids.chosen), "404");
    });
    await check("purgeInstanceHistory_unknown_404", async () => {
        const result = await client.purgeInstanceHistory(`${PREFIX}-missing`);
        assert(result.instancesDeleted === 0, JSON.stringify(result));
    });
    await check("purgeInstanceHistory_running_refused_412", async () => {
        const instance = await client.startNew("waiter", { instanceId: `${PREFIX}-running` });
        await waitFor(client, instance, [Status.Running]);
        const error = await refused(client.purgeInstanceHistory(instance), "412");
        assert((await client.getStatus(instance)).runtimeStatus === Status.Running, "still there");
        await client.terminate(instance, "done");
        return error;
    });
    await check("purgeInstanceHistoryBy", async () => {
        const result = await client.purgeInstanceHistoryBy({
            createdTimeFrom: startedAt, runtimeStatus: [Status.Completed],
        });
        assert(result.instancesDeleted >= 5, JSON.stringify(result));
        await refused(client.getStatus(ids.hello), "404");
    });
    await check("purgeInstanceHistoryBy_nothing_404", async () => {
        const result = await client.purgeInstanceHistoryBy({ createdTimeFrom: new Date(Date.now() + 86400000) });
        assert(result.instancesDeleted === 0, JSON.stringify(result));
    });
}

main().then(
    () => process.exit(results.every(Boolean) ? 0 : 1),
    (error) => {
        console.error(error);
        process.exit(2);
    },
);
