// Client for the Barista gRPC API: the generated message schemas and service
// descriptors of every Barista service, and a helper that connects to a
// running suite over gRPC (HTTP/2).
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { EventService } from "./gen/barista/event/v1/event_pb.js";
import { MetricsService } from "./gen/barista/metrics/v1/metrics_pb.js";
import { ProfileService } from "./gen/barista/profile/v1/profile_pb.js";
import { SegmentService } from "./gen/barista/segment/v1/segment_pb.js";

export * from "./gen/barista/type/v1/identifier_pb.js";
export * from "./gen/barista/event/v1/event_pb.js";
export * from "./gen/barista/profile/v1/profile_pb.js";
export * from "./gen/barista/segment/v1/segment_pb.js";
export * from "./gen/barista/metrics/v1/metrics_pb.js";

/**
 * Normalises a server address: "host:port" becomes "http://host:port"
 * (plaintext HTTP/2, as the Barista servers speak); a URL is kept as is.
 */
export function baristaBaseUrl(address) {
  if (typeof address !== "string" || address.trim() === "") {
    throw new TypeError("a Barista server address is required, such as http://127.0.0.1:7070");
  }
  const trimmed = address.trim();
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
}

/**
 * Creates one client per Barista service, all sharing one gRPC transport.
 *
 * @param baseUrl the server, such as "http://127.0.0.1:7070" or "127.0.0.1:7070".
 * @param options further options of the gRPC transport (interceptors, timeouts, ...).
 */
export function createBaristaClients(baseUrl, options = {}) {
  const transport = createGrpcTransport({ ...options, baseUrl: baristaBaseUrl(baseUrl) });
  return {
    event: createClient(EventService, transport),
    profile: createClient(ProfileService, transport),
    segment: createClient(SegmentService, transport),
    metrics: createClient(MetricsService, transport),
  };
}
