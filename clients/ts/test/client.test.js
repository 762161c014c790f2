// End-to-end test of the TypeScript/JavaScript client: starts `barista dev`
// (the binary named by BARISTA_BIN) on free ports and drives the foundation
// slice through the generated clients over gRPC.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";

import { baristaBaseUrl, createBaristaClients, IngestResult_Status } from "../src/index.js";

let server;
let clients;

before(async () => {
  const bin = process.env.BARISTA_BIN;
  assert.ok(bin, "BARISTA_BIN must name the barista binary (make test-ts sets it)");
  server = spawn(bin, ["dev", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  server.stderr.on("data", (d) => (stderr += d));
  const address = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = /gRPC:\s+(\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on("exit", (code) => reject(new Error(`barista dev exited with ${code}: ${stderr}`)));
  });
  clients = createBaristaClients(address);
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await once(server, "exit");
  }
});

async function eventually(what, cond) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("baristaBaseUrl adds the scheme to host:port and keeps URLs", () => {
  assert.equal(baristaBaseUrl("127.0.0.1:7070"), "http://127.0.0.1:7070");
  assert.equal(baristaBaseUrl("https://barista.example.com"), "https://barista.example.com");
  assert.throws(() => baristaBaseUrl(""), TypeError);
});

test("an order puts the customer in a segment, seen through every service", async () => {
  const anon = { type: "anonymous_id", value: "ts-a1" };
  const viewed = await clients.event.ingestEvents({
    events: [{ event: "Product Viewed", identifiers: [anon], properties: { category: "shoes" } }],
  });
  assert.equal(viewed.results[0].status, IngestResult_Status.ACCEPTED, viewed.results[0].error);
  const profile = viewed.results[0].profile;

  await clients.segment.createSegment({
    segmentId: "ts-buyers",
    segment: { condition: 'count("Order Completed", "90d") >= 1' },
  });
  const order = await clients.event.ingestEvents({
    events: [{ messageId: "ts-o1", event: "Order Completed", identifiers: [anon], properties: { revenue: 42.5 } }],
  });
  assert.equal(order.results[0].status, IngestResult_Status.ACCEPTED, order.results[0].error);

  await eventually("membership", async () => {
    const r = await clients.segment.listProfileMemberships({ identifier: anon });
    return r.memberships.some((m) => m.segment === "segments/ts-buyers" && m.profile === profile);
  });
  await eventually("metrics", async () => {
    const r = await clients.metrics.getSegmentMetrics({ segment: "segments/ts-buyers" });
    return r.metrics?.size === 1n;
  });
  const got = await clients.profile.lookupProfile({ identifier: anon });
  assert.equal(got.profile.name, profile);
});

test("bad input is an InvalidArgument with the field at fault", async () => {
  await assert.rejects(
    clients.segment.createSegment({ segmentId: "Bad Id", segment: { condition: "true" } }),
    (err) => err.code === 3 && /segment_id/.test(err.message),
  );
});
