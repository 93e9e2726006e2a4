/** The MQTT output: events and not-live faces per kiosk, Home Assistant discovery, the door's lock entity. */
export { loadMqttConfig, type MqttConfig } from "./config.ts";
export { discoveryMessages, LOCK, nodeId, type DiscoveryMessage } from "./discovery.ts";
export { MqttOutput, type DoorCommand, type MqttOutputOptions } from "./output.ts";
export { level, NO_KIOSK, Topics, unlevel, type MessageType } from "./topics.ts";
