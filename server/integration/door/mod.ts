/** The door: an action per kiosk on identification (HTTP relay or MQTT command), with its latency. */
export { DoorRuleSchema, DoorRulesSchema, loadDoorRules, ruleFor, type DoorRule } from "./config.ts";
export { DoorController, type DoorControllerOptions, type DoorOutcome } from "./door.ts";
export { callRelay, type RelayCall, type RelayOutcome } from "./relay.ts";
