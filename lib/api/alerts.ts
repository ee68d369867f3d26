/**
 * Alert delivery history for the API (read-only): what was sent to which webhook about which
 * registry, and every attempt. Webhook URLs and secrets live in the config file and never appear.
 */
import { z } from "zod";
import { listDeliveries } from "../alerts";
import { ALERT_EVENTS } from "../config";
import type { ApiEnv } from "./env";
import { limit, registryName } from "./schemas";

const isoDate = z.iso.datetime({ offset: true });

export const ALERT_DELIVERY_STATUSES = ["pending", "delivered", "failed", "dropped"] as const;

export const alertDeliveryQuerySchema = z
  .object({
    webhook: z.string().max(63).optional(),
    registry: registryName.optional(),
    status: z.enum(ALERT_DELIVERY_STATUSES).optional(),
    type: z.enum(ALERT_EVENTS).optional(),
    cursor: z.string().max(80).optional().describe("nextCursor from the previous page"),
    limit: limit(50),
  })
  .strict();

export const alertDeliverySchema = z
  .object({
    id: z.string().describe("The event id, sent as X-Ferry-Delivery"),
    webhook: z.string(),
    registry: z.string(),
    type: z.enum(ALERT_EVENTS),
    status: z.enum(ALERT_DELIVERY_STATUSES),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    createdAt: isoDate,
    nextAttemptAt: isoDate.nullable(),
    deliveredAt: isoDate.nullable(),
    payload: z.unknown().describe("The JSON body sent"),
    attemptLog: z.array(
      z.object({ attempt: z.number().int(), at: isoDate, statusCode: z.number().int().nullable(), error: z.string().nullable(), durationMs: z.number().int(), nextAttemptAt: isoDate.nullable() }),
    ),
  })
  .meta({ id: "AlertDelivery" });

export function alertDeliveries(env: ApiEnv, q: z.infer<typeof alertDeliveryQuerySchema>) {
  return listDeliveries(env.db, q);
}
