import type { DetectedFace, EngineInfo, ImageInput } from "../core/mod.ts";

/** An 8-bit RGB image in memory, EXIF-rotated, possibly downscaled from the original. */
export interface DecodedImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
  /** Size of the (EXIF-rotated) original; box coordinates are reported in this space. */
  readonly originalWidth: number;
  readonly originalHeight: number;
  /** originalWidth / width (>= 1): multiply decoded coordinates by it to get original ones. */
  readonly scale: number;
}

export type ImageSource = ImageInput | DecodedImage;

export interface AnalyzedFace extends DetectedFace {
  /** L2-normalised. */
  embedding: Float32Array;
  /** The 68 iBUG landmarks (original-image pixels) when the engine has them (the default ONNX engine). */
  landmarks68?: [number, number][];
}

export interface DetectOptions {
  /**
   * The image was downscaled by this factor (>= 1) from an original the caller holds: faces are
   * reported, and MIN_FACE_SIZE applies, in that original's pixels (as for an image the engine
   * downscaled itself). Default 1.
   */
  sourceScale?: number;
}

export interface AnalyzeOptions extends DetectOptions {
  /** Embed only the first N faces (faces are ordered by detector preference). */
  maxFaces?: number;
}

/**
 * Turns images into faces and embeddings. Faces come back ordered by preference:
 * highest score first, ties broken by size (ARCHITECTURE §3: on full scenes "largest" alone
 * can pick a blurred background false positive).
 */
export interface FaceEngine {
  info(): EngineInfo;
  detect(image: ImageSource, options?: DetectOptions): Promise<DetectedFace[]>;
  embed(image: ImageSource, face: DetectedFace): Promise<Float32Array>;
  analyze(image: ImageSource, options?: AnalyzeOptions): Promise<AnalyzedFace[]>;
  dispose(): Promise<void>;
}
