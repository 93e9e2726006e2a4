/** Liveness of tracked kiosk faces from their landmarks: passive evidence and challenge mode. */
export {
  CHALLENGE_ACTIONS,
  CHALLENGE_RULES,
  Challenge,
  facePose,
  isCalm,
  type ChallengeAction,
  type ChallengeOutcome,
  type ChallengeReport,
  type FacePose,
} from "./challenge.ts";
export { eyeAspectRatio, mouthAspectRatio, mouthWidth, pairSignals, yaw5, type PairSignals, type Signal } from "./features.ts";
export { fitHomography, applyHomography, interocular, normalizeShape, type Pt } from "./geometry.ts";
export {
  MIN_IOD_PX,
  PASSIVE_THRESHOLDS,
  PassiveLiveness,
  REFERENCE_IOD_PX,
  type PassiveEvidence,
  type PassiveOptions,
  type PassiveState,
} from "./passive.ts";
export {
  TrackLiveness,
  type FaceLandmarks,
  type LivenessMode,
  type LivenessReport,
  type LivenessSettings,
  type LivenessState,
  type LivenessTransition,
} from "./track.ts";
