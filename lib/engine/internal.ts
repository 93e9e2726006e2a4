/**
 * facegate/engine, friend face: what the service, the NATS worker, tests and benchmarks may use
 * besides the public face (mod.ts): decoding, the ONNX pipeline's stages, the probe. The Human
 * engine is not listed: it loads TensorFlow.js, which createEngine() imports only when asked.
 */
export * from "./mod.ts";
export * from "./config.ts";
export * from "./types.ts";
export * from "./boxes.ts";
export * from "./profile.ts";
export * from "./probe.ts";
export * from "./image/image.ts";
export * from "./image/sniff.ts";
export * from "./image/raster.ts";
export * from "./onnx/ort.ts";
export * from "./onnx/prelu-rewrite.ts";
export * from "./onnx/protobuf.ts";
export * from "./onnx/align.ts";
export * from "./onnx/detector.ts";
export * from "./onnx/embedder.ts";
export * from "./onnx/landmarks.ts";
export * from "./onnx/onnx-engine.ts";
export * from "./onnx/fusion.ts";
