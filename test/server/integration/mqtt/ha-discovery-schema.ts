/**
 * Home Assistant's documented MQTT discovery fields for the two entities facegate announces, as
 * zod schemas (strict: a key Home Assistant does not document is an error). From
 * https://www.home-assistant.io/integrations/mqtt/ (discovery topic, device, origin, availability),
 * https://www.home-assistant.io/integrations/sensor.mqtt/ and https://www.home-assistant.io/integrations/lock.mqtt/.
 */
import { z } from "zod";

/** `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`; node and object ids are [a-zA-Z0-9_-]. */
export const DiscoveryTopic = z.string().regex(/^[^/#+]+\/(sensor|lock)\/([a-zA-Z0-9_-]+\/)?[a-zA-Z0-9_-]+\/config$/);

/** A topic to publish or subscribe to: no wildcards in a publish topic. */
const Topic = z.string().min(1).regex(/^[^#+]+$/);

const Device = z
  .object({
    configuration_url: z.string().optional(),
    connections: z.array(z.tuple([z.string(), z.string()])).optional(),
    hw_version: z.string().optional(),
    identifiers: z.union([z.string(), z.array(z.string()).min(1)]),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    model_id: z.string().optional(),
    name: z.string().optional(),
    serial_number: z.string().optional(),
    suggested_area: z.string().optional(),
    sw_version: z.string().optional(),
    via_device: z.string().optional(),
  })
  .strict();

const Origin = z.object({ name: z.string().min(1), sw_version: z.string().optional(), support_url: z.string().optional() }).strict();

const Availability = z
  .object({
    topic: Topic,
    payload_available: z.string().optional(),
    payload_not_available: z.string().optional(),
    value_template: z.string().optional(),
  })
  .strict();

const Common = {
  availability: z.array(Availability).optional(),
  availability_mode: z.enum(["all", "any", "latest"]).optional(),
  availability_topic: Topic.optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  device: Device.optional(),
  origin: Origin.optional(),
  enabled_by_default: z.boolean().optional(),
  entity_category: z.enum(["config", "diagnostic"]).optional(),
  icon: z.string().regex(/^mdi:[a-z0-9-]+$/).optional(),
  json_attributes_topic: Topic.optional(),
  json_attributes_template: z.string().optional(),
  name: z.string().nullable().optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
  unique_id: z.string().optional(),
  value_template: z.string().optional(),
};

export const SensorConfig = z
  .object({
    ...Common,
    state_topic: Topic,
    device_class: z.string().optional(),
    expire_after: z.number().int().optional(),
    force_update: z.boolean().optional(),
    state_class: z.string().optional(),
    unit_of_measurement: z.string().optional(),
  })
  .strict()
  // availability_topic and availability must not both be set
  .refine((c) => !(c.availability && c.availability_topic), "availability and availability_topic together");

export const LockConfig = z
  .object({
    ...Common,
    command_topic: Topic,
    command_template: z.string().optional(),
    optimistic: z.boolean().optional(),
    payload_lock: z.string().optional(),
    payload_unlock: z.string().optional(),
    payload_open: z.string().optional(),
    payload_reset: z.string().optional(),
    retain: z.boolean().optional(),
    state_topic: Topic.optional(),
    state_locked: z.string().optional(),
    state_unlocked: z.string().optional(),
    state_locking: z.string().optional(),
    state_unlocking: z.string().optional(),
    state_jammed: z.string().optional(),
    state_open: z.string().optional(),
    state_opening: z.string().optional(),
    code_format: z.string().optional(),
  })
  .strict()
  .refine((c) => !(c.availability && c.availability_topic), "availability and availability_topic together");
