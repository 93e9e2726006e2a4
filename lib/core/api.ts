/**
 * The FaceApi: every operation of the system. `LocalFaceService` (in-process) and `FaceClient`
 * (over NATS) both implement it, so the HTTP server and kiosk sessions are the same in embedded
 * and distributed mode. Inputs are validated by the implementation with the schemas in ./schemas.ts.
 */
import type {
  CacheStats,
  CallOptions,
  CompanyRequest,
  CompareRequest,
  CompareResult,
  CreateCompanyResult,
  DeleteResult,
  DetectResult,
  EmbedResult,
  EnrollRequest,
  EnrollResult,
  FaceRequest,
  Health,
  ImageRequest,
  RecognizeFacesResult,
  RecognizeRequest,
  Recognition,
  SearchEmbeddingRequest,
  SearchEmbeddingResult,
  OperatingPoint,
  OperatingPointRequest,
  SetOperatingPointRequest,
  UpdateUserRequest,
  UserFacesResult,
  UserInfo,
  UserRequest,
  VerifyRequest,
  VerifyResult,
} from "./schemas.ts";
import type { ListCompaniesRequest, ListCompaniesResult, ListUsersRequest, ListUsersResult } from "./listing.ts";

export interface FaceApi {
  /** Idempotent: `created` is false when it already existed. Empty id → INVALID_ARGUMENT. */
  createCompany(req: CompanyRequest, opts?: CallOptions): Promise<CreateCompanyResult>;
  /** Cascades to users and faces; `deleted` false if it did not exist. */
  deleteCompany(req: CompanyRequest, opts?: CallOptions): Promise<DeleteResult>;
  /** COMPANY_NOT_FOUND, USER_EXISTS, NO_FACE, INVALID_IMAGE, MULTIPLE_FACES (when configured), MODEL_MISMATCH. */
  createUser(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult>;
  /** COMPANY_NOT_FOUND, USER_NOT_FOUND, FACE_EXISTS, NO_FACE, INVALID_IMAGE, MODEL_MISMATCH. */
  addFace(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult>;
  /** Cascades to faces; false if absent. */
  deleteUser(req: UserRequest, opts?: CallOptions): Promise<DeleteResult>;
  /** False if absent; deleting the last face keeps the user. */
  deleteFace(req: FaceRequest, opts?: CallOptions): Promise<DeleteResult>;
  /** Face ids, [] if the company or user is unknown. */
  getUserFaces(req: UserRequest, opts?: CallOptions): Promise<UserFacesResult>;
  /** The user: name and metadata (when any) and face ids. COMPANY_NOT_FOUND, USER_NOT_FOUND. */
  getUser(req: UserRequest, opts?: CallOptions): Promise<UserInfo>;
  /** Changes the user's name and/or metadata (absent: unchanged, null: removed). COMPANY_NOT_FOUND, USER_NOT_FOUND. */
  updateUser(req: UpdateUserRequest, opts?: CallOptions): Promise<UserInfo>;
  /** Best match over every face in the image. No face or unknown company → {userId: null, confidence: 0, bbox: null}. */
  recognizeFace(req: RecognizeRequest, opts?: CallOptions): Promise<Recognition>;
  /** One recognition per detected face, in detection order (largest/most confident first). */
  recognizeFaces(req: RecognizeRequest, opts?: CallOptions): Promise<RecognizeFacesResult>;
  /**
   * 1:N search by an embedding (no image): the decided user (or null), the threshold used and the top-k
   * users with their best faces. COMPANY_NOT_FOUND, MODEL_MISMATCH (dimension), INVALID_ARGUMENT (zero vector).
   */
  searchEmbedding(req: SearchEmbeddingRequest, opts?: CallOptions): Promise<SearchEmbeddingResult>;
  /**
   * The company's operating point: users, threshold in force and its source, FPIR target, expected FPIR,
   * and the calibration's curves. COMPANY_NOT_FOUND.
   */
  getOperatingPoint(req: OperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint>;
  /**
   * Sets the company's own FPIR target or threshold (within OPERATING_POINT_BOUNDS; both null: back to the
   * defaults). A configured FACE_RECOGNITION_THRESHOLD still wins. COMPANY_NOT_FOUND, INVALID_ARGUMENT,
   * UNAVAILABLE where the store cannot keep settings.
   */
  setOperatingPoint(req: SetOperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint>;
  detectFaces(req: ImageRequest, opts?: CallOptions): Promise<DetectResult>;
  /** 512 floats (for the default model), L2-normalised; NO_FACE when there is none. */
  generateEmbedding(req: ImageRequest, opts?: CallOptions): Promise<EmbedResult>;
  compare(req: CompareRequest, opts?: CallOptions): Promise<CompareResult>;
  verify(req: VerifyRequest, opts?: CallOptions): Promise<VerifyResult>;
  getCacheStats(opts?: CallOptions): Promise<CacheStats>;
  healthCheck(opts?: CallOptions): Promise<Health>;
  /** Companies by id with their user and face counts, paginated. */
  listCompanies(req?: ListCompaniesRequest, opts?: CallOptions): Promise<ListCompaniesResult>;
  /** A company's users by id with their face counts, paginated; COMPANY_NOT_FOUND when unknown. */
  listUsers(req: ListUsersRequest, opts?: CallOptions): Promise<ListUsersResult>;
}

/** Operation names, snake_case as in the old system; used for NATS subjects and metrics. */
export const OPERATIONS = {
  createCompany: "create_company",
  deleteCompany: "delete_company",
  createUser: "create_user",
  addFace: "add_face",
  deleteUser: "delete_user",
  deleteFace: "delete_face",
  getUserFaces: "get_user_faces",
  getUser: "get_user",
  updateUser: "update_user",
  recognizeFace: "recognize_face",
  recognizeFaces: "recognize_faces",
  searchEmbedding: "search_embedding",
  getOperatingPoint: "get_operating_point",
  setOperatingPoint: "set_operating_point",
  detectFaces: "detect_faces",
  generateEmbedding: "generate_embedding",
  compare: "compare",
  verify: "verify",
  getCacheStats: "get_cache_stats",
  healthCheck: "health_check",
  listCompanies: "list_companies",
  listUsers: "list_users",
} as const satisfies Record<keyof FaceApi, string>;

export type OperationName = keyof FaceApi;
