// End-to-end test with the real SDKs: starts `barista dev` (the binary named
// by BARISTA_BIN) on free ports, points the unmodified Segment and
// RudderStack Node SDKs at its HTTP address, sends identify, track and page
// calls, flushes, and checks over gRPC (with the TypeScript client of
// ../ts) that every call was stored once and resolved to the right profile.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";

import { Analytics as SegmentAnalytics } from "@segment/analytics-node";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";

import { createBaristaClients, EventType } from "../../ts/src/index.js";

let server;
let clients;
let httpURL;

before(async () => {
  const bin = process.env.BARISTA_BIN;
  assert.ok(bin, "BARISTA_BIN must name the barista binary (make test-sdk sets it)");
  server = spawn(bin, ["dev", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  server.stderr.on("data", (d) => (stderr += d));
  const [grpcAddr, httpAddr] = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const g = /gRPC:\s+(\S+)/.exec(out);
      const h = /HTTP:\s+(?:http:\/\/)?(\S+)/.exec(out);
      if (g && h) resolve([g[1], h[1]]);
    });
    server.on("exit", (code) => reject(new Error(`barista dev exited with ${code}: ${stderr}`)));
  });
  clients = createBaristaClients(grpcAddr);
  httpURL = `http://${httpAddr}`;
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await once(server, "exit");
  }
});

// eventsOf lists every stored event of the profile holding an identifier.
async function eventsOf(type, value) {
  const r = await clients.event.listProfileEvents({ identifier: { type, value }, pageSize: 100 });
  return r.events;
}

// checkStoredOnce asserts that the profile of email holds exactly the three
// calls, each once, all resolved to one profile, timed by the SDK's clock.
async function checkStoredOnce(email, sent, startedAt) {
  const events = await eventsOf("email", email);
  const summary = events.map((e) => [e.type, e.event]).sort();
  assert.deepEqual(
    summary,
    [
      [EventType.TRACK, "Product Viewed"],
      [EventType.IDENTIFY, ""],
      [EventType.PAGE, "Home"],
    ].sort(),
    "identify, track and page are stored once each on the profile",
  );
  const profiles = new Set(events.map((e) => e.profile));
  assert.equal(profiles.size, 1, `one profile, got ${[...profiles]}`);
  if (sent) {
    assert.deepEqual(events.map((e) => e.messageId).sort(), [...sent].sort(), "the SDK's messageIds are kept");
  }
  assert.equal(new Set(events.map((e) => e.messageId)).size, 3, "distinct message ids");
  for (const e of events) {
    const at = Number(e.timestamp.seconds) * 1000;
    assert.ok(at >= startedAt - 60_000 && at <= Date.now() + 60_000, `timestamp ${new Date(at).toISOString()} is the send time`);
  }
  const track = events.find((e) => e.type === EventType.TRACK);
  assert.equal(track.properties.category, "shoes");
  return [...profiles][0];
}

test("the Segment Node SDK sends to Barista unchanged", async () => {
  const startedAt = Date.now();
  const errors = [];
  const analytics = new SegmentAnalytics({ writeKey: "segment-key", host: httpURL, flushAt: 50, maxRetries: 1 });
  analytics.on("error", (err) => errors.push(err));
  const sent = [];
  const recorded = (err, ctx) => {
    if (err) errors.push(err);
    else sent.push(ctx.event.messageId);
  };
  analytics.identify(
    { userId: "seg-u1", anonymousId: "seg-a1", traits: { email: "seg@example.com", name: "Seg" } },
    recorded,
  );
  analytics.track(
    { anonymousId: "seg-a1", event: "Product Viewed", properties: { category: "shoes", price: 30 } },
    recorded,
  );
  analytics.page({ userId: "seg-u1", name: "Home", properties: { path: "/" } }, recorded);
  await analytics.closeAndFlush({ timeout: 20_000 });
  assert.deepEqual(errors, []);
  assert.equal(sent.length, 3);

  const profile = await checkStoredOnce("seg@example.com", sent, startedAt);
  const byUser = await eventsOf("user_id", "seg-u1");
  assert.ok(byUser.every((e) => e.profile === profile), "the user id resolves to the same profile");
});

test("the RudderStack Node SDK sends to Barista unchanged", async () => {
  const startedAt = Date.now();
  const errors = [];
  const client = new RudderAnalytics("rudder-key", {
    dataPlaneUrl: httpURL,
    flushAt: 50,
    flushInterval: 60_000,
    retryCount: 0,
    logLevel: "error",
    errorHandler: (err) => errors.push(err),
  });
  const done = (err) => err && errors.push(err);
  client.identify({ userId: "rs-u1", anonymousId: "rs-a1", traits: { email: "rs@example.com" } }, done);
  client.track({ anonymousId: "rs-a1", event: "Product Viewed", properties: { category: "shoes" } }, done);
  client.page({ userId: "rs-u1", name: "Home", category: "Catalog" }, done);
  await client.flush();
  assert.deepEqual(errors, []);

  // The SDK sends gzip-compressed batches; a second flush sends nothing new.
  await client.flush();
  const profile = await checkStoredOnce("rs@example.com", null, startedAt);
  const byAnon = await eventsOf("anonymous_id", "rs-a1");
  assert.ok(byAnon.every((e) => e.profile === profile), "the anonymous id resolves to the same profile");
  const page = byAnon.find((e) => e.type === EventType.PAGE);
  assert.equal(page.properties.category, "Catalog", "the page category is kept");
});

test("the HTTP API answers a missing write key with 401 and JSON", async () => {
  const r = await fetch(`${httpURL}/v1/track`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: "x", event: "E" }),
  });
  assert.equal(r.status, 401);
  const body = await r.json();
  assert.equal(body.success, false);
  assert.match(body.message, /write key is required/);
});
