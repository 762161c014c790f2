import type { Client } from "@connectrpc/connect";
import type { GrpcTransportOptions } from "@connectrpc/connect-node";

import type { EventService } from "./gen/barista/event/v1/event_pb.js";
import type { MetricsService } from "./gen/barista/metrics/v1/metrics_pb.js";
import type { ProfileService } from "./gen/barista/profile/v1/profile_pb.js";
import type { SegmentService } from "./gen/barista/segment/v1/segment_pb.js";

export * from "./gen/barista/type/v1/identifier_pb.js";
export * from "./gen/barista/event/v1/event_pb.js";
export * from "./gen/barista/profile/v1/profile_pb.js";
export * from "./gen/barista/segment/v1/segment_pb.js";
export * from "./gen/barista/metrics/v1/metrics_pb.js";

/** One client per Barista service. */
export interface BaristaClients {
  event: Client<typeof EventService>;
  profile: Client<typeof ProfileService>;
  segment: Client<typeof SegmentService>;
  metrics: Client<typeof MetricsService>;
}

/**
 * Normalises a server address: "host:port" becomes "http://host:port"
 * (plaintext HTTP/2, as the Barista servers speak); a URL is kept as is.
 */
export declare function baristaBaseUrl(address: string): string;

/**
 * Creates one client per Barista service, all sharing one gRPC transport.
 *
 * @param baseUrl the server, such as "http://127.0.0.1:7070" or "127.0.0.1:7070".
 * @param options further options of the gRPC transport (interceptors, timeouts, ...).
 */
export declare function createBaristaClients(
  baseUrl: string,
  options?: Omit<GrpcTransportOptions, "baseUrl">,
): BaristaClients;
