/**
 * An example request and answer for every operation of /openapi.json, by operationId, shown on /docs.
 * The answers are what a real server answered (2026-11-30, LFW photos of one man and the in-memory
 * store), shortened where they are long (images, embeddings, calibration curves).
 * test/server/http/openapi-examples.test.ts checks that every operation has one and that each validates
 * against the route's own zod schemas, so a changed wire field makes the examples fail, not lie.
 */

export interface OperationExample {
  /** The JSON body (routes with a body only). */
  request?: unknown;
  /** The 2xx answer: JSON, or the text of a text/* answer. */
  response: unknown;
}

/** Stands for the whole photo in base64 (a real request carries all of it). */
const IMAGE = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHR...(the whole JPEG, base64)";
/** A 512-number embedding, shortened to its first 6 numbers. */
const EMBEDDING = [0.0147, -0.0623, 0.0381, 0.0094, -0.0412, 0.0725];

/** The settable bounds GET .../operating-point answers with (OPERATING_POINT_BOUNDS). */
const BOUNDS = {
  "fpir_target": {
    "min": 0.0001,
    "max": 0.2
  },
  "threshold": {
    "min": 0.2,
    "max": 0.95
  }
};
/** The shipped calibration, its curve shortened to three thresholds. */
const CALIBRATION = {
  "model": "fr_feature@87aacdfe",
  "source": "lfw-dev/images: 4992 images of 3095 people (facegate calibrate)",
  "genuine_pairs": 3192,
  "impostor_pairs": 12454344,
  "curve": [
    {
      "threshold": 0.25,
      "far": 0.0093536,
      "frr": 0.0075188,
      "fpir": 0.010517200000000004
    },
    {
      "threshold": 0.26,
      "far": 0.00742528,
      "frr": 0.00845865,
      "fpir": 0.008410080000000002
    },
    {
      "threshold": 0.27,
      "far": 0.00584326,
      "frr": 0.00877193,
      "fpir": 0.006715140000000002
    }
  ]
};

/** compare and the old system's /api/v1/compare run one handler: one example. */
const COMPARE = {
  "request": {
    "query_embedding": [0.6, 0.8, 0],
    "reference_embeddings": [
      {
        "id": "a",
        "embedding": [0.6, 0.8, 0]
      },
      {
        "id": "b",
        "embedding": [0, 0.6, 0.8]
      }
    ]
  },
  "response": {
    "best_match": {
      "id": "a",
      "distance": 0,
      "similarity": 1
    },
    "matches": [
      {
        "id": "a",
        "distance": 0,
        "similarity": 1
      },
      {
        "id": "b",
        "distance": 0.52,
        "similarity": 0.48
      }
    ]
  }
};

/** A company's webhook as GET .../webhook shows it (PUT also answers the new secret, once). */
const WEBHOOK = {
  "company_id": "acme",
  "url": "https://backend.example/facegate",
  "secret_hint": "F3bp",
  "created_at": "2026-11-30T10:06:39.389Z",
  "updated_at": "2026-11-30T10:06:39.389Z",
  "pending": 0,
  "dead_letters": 0,
  "delivered": 0,
  "last_error": null,
  "last_error_at": null,
  "last_success_at": null,
  "recent_dead_letters": []
};

/** What generate_embedding answers for the example photo. */
const EMBEDDED = { "embedding": EMBEDDING, "detection_score": 0.999996542930603, "bbox": [85, 65, 86, 118], "model": "fr_feature@87aacdfe" };

export const OPERATION_EXAMPLES: Readonly<Record<string, OperationExample>> = {
  "create_company": {
    "request": {
      "company_id": "acme"
    },
    "response": {
      "company_id": "acme",
      "created": true,
      "revision": 1
    }
  },
  "create_user": {
    "request": {
      "user_id": "aaron",
      "face_id": "1",
      "image": IMAGE,
      "name": "Aaron Eckhart"
    },
    "response": {
      "company_id": "acme",
      "user_id": "aaron",
      "name": "Aaron Eckhart",
      "face_id": "1",
      "detection_score": 0.999996542930603,
      "bbox": [85, 65, 86, 118],
      "faces_found": 1,
      "model": "fr_feature@87aacdfe",
      "revision": 3
    }
  },
  "add_face": {
    "request": {
      "face_id": "2",
      "image": IMAGE
    },
    "response": {
      "company_id": "acme",
      "user_id": "aaron",
      "face_id": "2",
      "detection_score": 0.9999992847442627,
      "bbox": [75, 64, 93, 124],
      "faces_found": 1,
      "model": "fr_feature@87aacdfe",
      "revision": 4
    }
  },
  "enroll_batch": {
    "request": {
      "items": [
        { "user_id": "ann", "face_id": "1", "image": IMAGE, "name": "Ann Smith" },
        { "user_id": "ann", "face_id": "2", "image": IMAGE },
        { "user_id": "bob", "face_id": "1", "image": IMAGE }
      ]
    },
    "response": {
      "results": [
        { "index": 0, "user_id": "ann", "face_id": "1", "outcome": "enrolled", "created_user": true },
        { "index": 1, "user_id": "ann", "face_id": "2", "outcome": "duplicate", "code": "FACE_EXISTS", "message": "face \"2\" already exists for user \"ann\"" },
        { "index": 2, "user_id": "bob", "face_id": "1", "outcome": "quality", "code": "FACE_QUALITY", "message": "the photo is not good enough to enroll: sharpness failed: sharpness 6.1, needs ≥ 15" }
      ],
      "counts": { "enrolled": 1, "duplicate": 1, "quality": 1, "no_face": 0, "invalid_image": 0, "model_mismatch": 0, "error": 0, "not_done": 0 }
    }
  },
  "get_user": {
    "response": {
      "company_id": "acme",
      "user_id": "aaron",
      "name": "Aaron Eckhart",
      "metadata": { "department": "R&D", "badge": 1815 },
      "face_ids": ["1", "2"]
    }
  },
  "update_user": {
    "request": { "name": "Aaron E.", "metadata": null },
    "response": {
      "company_id": "acme",
      "user_id": "aaron",
      "name": "Aaron E.",
      "face_ids": ["1", "2"],
      "revision": 5
    }
  },
  "get_user_faces": {
    "response": {
      "face_ids": [
        "1",
        "2"
      ]
    }
  },
  "recognize_face": {
    "request": {
      "image": IMAGE,
      "record": true,
      "kiosk_id": "gate-2"
    },
    "response": {
      "user_id": "aaron",
      "confidence": 0.9502469154805018,
      "bbox": [75, 64, 93, 124],
      "face_id": "2",
      "detection_score": 0.9999992847442627,
      "threshold": 0.2827618258073926,
      "company_found": true,
      "event_id": "01M8NYQF4T65QJGN3E5G8ZFTZ6"
    }
  },
  "get_operating_point": {
    "response": {
      "company_id": "acme",
      "users": 1,
      "multi_face_users": 1,
      "threshold": 0.2827618258073926,
      "source": "fpir_target",
      "fpir_target": 0.005,
      "expected_fpir": 0.00499999999980133,
      "expected_frr": 0.00943129163009856,
      "settings": null,
      "bounds": BOUNDS,
      "calibration": CALIBRATION
    }
  },
  "set_operating_point": {
    "request": {
      "fpir_target": 0.01,
      "threshold": null
    },
    "response": {
      "company_id": "acme",
      "users": 1,
      "multi_face_users": 1,
      "threshold": 0.2522554203402251,
      "source": "company_fpir_target",
      "fpir_target": 0.01,
      "expected_fpir": 0.00999999999873674,
      "expected_frr": 0.007730775680676053,
      "settings": {
        "fpir_target": 0.01
      },
      "bounds": BOUNDS,
      "calibration": CALIBRATION,
      "revision": 5
    }
  },
  "search_embedding": {
    "request": {
      "embedding": EMBEDDING,
      "top_k": 3
    },
    "response": {
      "user_id": "aaron",
      "confidence": 0.9502469154805018,
      "face_id": "2",
      "threshold": 0.2522554203402251,
      "matches": [
        {
          "user_id": "aaron",
          "confidence": 0.9502469154805018,
          "face_id": "2"
        }
      ]
    }
  },
  "detect_faces": {
    "request": {
      "image": IMAGE
    },
    "response": {
      "faces_count": 1,
      "bboxes": [
        [85, 65, 86, 118]
      ],
      "scores": [0.999996542930603],
      "landmarks": [
        [
          [107.46, 114.02],
          [144.7, 113.42],
          [128.24, 139.84],
          [110.27, 155.82],
          [146.33, 154.12]
        ]
      ]
    }
  },
  "generate_embedding": { "request": { "image": IMAGE }, "response": EMBEDDED },
  "compare": COMPARE,
  "verify": {
    "request": {
      "image1": IMAGE,
      "image2": IMAGE
    },
    "response": {
      "is_match": true,
      "confidence": 0.8059383948207527,
      "threshold": 0.4,
      "metrics": {
        "cosine_similarity": 0.8059383948207527,
        "euclidean_distance": 0.6229953533138552
      },
      "processing_ms": 24.58118300000001
    }
  },
  "verify_batch": {
    "request": {
      "pairs": [
        {
          "image1": IMAGE,
          "image2": IMAGE
        },
        {
          "image1": IMAGE,
          "image2": "bm90IGFuIGltYWdl"
        }
      ]
    },
    "response": {
      "results": [
        {
          "index": 0,
          "ok": true,
          "is_match": true,
          "confidence": 0.8059383948207527,
          "threshold": 0.4,
          "metrics": {
            "cosine_similarity": 0.8059383948207527,
            "euclidean_distance": 0.6229953533138552
          },
          "processing_ms": 23.317457999999988
        },
        {
          "index": 1,
          "ok": false,
          "error": {
            "code": "INVALID_IMAGE",
            "message": "image is not a JPEG, PNG or WebP (unrecognised bytes)"
          }
        }
      ]
    }
  },
  "health_check": {
    "response": {
      "status": "healthy",
      "state": "ok",
      "response_time_ms": 0.03211799999996856,
      "worker_info": {
        "worker_id": "vm-9821",
        "uptime_seconds": 0.289,
        "tasks_processed": 15
      },
      "engine": {
        "engine": "onnx",
        "backend": "onnxruntime-node/cpu",
        "model_id": "fr_feature@87aacdfe",
        "embedding_dim": 512,
        "models": [
          "fr_detect@6c0256cc",
          "fr_landmark@f10b0ba1",
          "fr_feature@87aacdfe"
        ]
      },
      "engine_check": {
        "ok": true,
        "ms": 95.2,
        "checked_at": "2026-11-30T10:06:39.181Z"
      },
      "store": {
        "kind": "memory",
        "revision": 5,
        "gallery_revision": 5
      }
    }
  },
  "whoami": {
    "response": {
      "key_id": "open",
      "auth_mode": "open",
      "admin": true,
      "companies": [],
      "scopes": {
        "*": "admin"
      }
    }
  },
  "get_cache_stats": {
    "response": {
      "companies_count": 1,
      "users_count": 1,
      "faces_count": 2,
      "embeddings_count": 2,
      "uptime_seconds": 0.292,
      "total_tasks_processed": 16,
      "worker_id": "vm-9821",
      "revision": 5,
      "cache_info": {
        "acme": {
          "users": 1,
          "faces": 2
        }
      },
      "companies": {
        "acme": {
          "users": 1,
          "faces": 2
        }
      },
      "server_info": {
        "store": "memory",
        "memory_bytes": 65536,
        "recognition_threshold": null,
        "model": "fr_feature@87aacdfe",
        "models": {
          "acme": "fr_feature@87aacdfe"
        },
        "operating_points": {
          "acme": {
            "threshold": 0.2522554203402251,
            "source": "company_fpir_target",
            "expected_fpir": 0.00999999999873674
          }
        },
        "skipped_events": 0
      }
    }
  },
  "list_companies": {
    "response": {
      "companies": [
        {
          "company_id": "acme",
          "users": 1,
          "faces": 2
        }
      ],
      "total": 1,
      "next_cursor": null
    }
  },
  "list_users": {
    "response": {
      "company_id": "acme",
      "users": [
        {
          "user_id": "aaron",
          "faces": 2
        }
      ],
      "total": 1,
      "next_cursor": null
    }
  },
  "list_events": {
    "response": {
      "company_id": "acme",
      "events": [
        {
          "type": "unknown",
          "id": "01M8NYR2KX7W3D9Q0B4VZ6H1TS",
          "company_id": "acme",
          "user_id": null,
          "confidence": 0.1412,
          "threshold": 0.2827618258073926,
          "kiosk_id": "front-door",
          "source": "kiosk",
          "at": "2026-11-30T10:07:02.115Z",
          "frames": 5,
          "session_id": "mk3v1x-2-4f9c1e2a"
        },
        {
          "type": "identified",
          "id": "01M8NYQF4T65QJGN3E5G8ZFTZ6",
          "company_id": "acme",
          "user_id": "aaron",
          "confidence": 0.9502469154805018,
          "threshold": 0.2827618258073926,
          "kiosk_id": "gate-2",
          "source": "api",
          "at": "2026-11-30T10:06:39.258Z",
          "frames": null
        }
      ],
      "next_cursor": null
    }
  },
  "attendance": {
    "response": {
      "company_id": "acme",
      "date": "2026-11-30",
      "utc_offset": "+00:00",
      "users": [
        {
          "user_id": "aaron",
          "first": {
            "at": "2026-11-30T10:06:39.258Z",
            "event_id": "01M8NYQF4T65QJGN3E5G8ZFTZ6",
            "kiosk_id": "gate-2",
            "confidence": 0.9502469154805018
          },
          "last": {
            "at": "2026-11-30T10:06:39.258Z",
            "event_id": "01M8NYQF4T65QJGN3E5G8ZFTZ6",
            "kiosk_id": "gate-2",
            "confidence": 0.9502469154805018
          },
          "events": 1
        }
      ]
    }
  },
  "put_webhook": {
    "request": {
      "url": "https://backend.example/facegate"
    },
    "response": { ...WEBHOOK, "secret": "whsec_HGo0+vi9h3fRhd4Q/dsTn29OuQisF3bp" }
  },
  "get_webhook": {
    "response": WEBHOOK
  },
  "retry_webhook": {
    "response": {
      "requeued": 0
    }
  },
  "delete_webhook": {
    "response": {
      "deleted": true
    }
  },
  "compat_embed": {
    "request": { "image": IMAGE },
    // the old system's answer adds the dimension and the time taken
    "response": { ...EMBEDDED, "dimension": 512, "processing_time_ms": 13.7 }
  },
  "compat_compare": COMPARE,
  "compat_health": {
    "response": {
      "status": "healthy",
      "model": "fr_feature@87aacdfe",
      "embedding_dim": 512,
      "response_time_ms": 0.1
    }
  },
  "delete_face": {
    "response": {
      "deleted": true,
      "revision": 6
    }
  },
  "delete_user": {
    "response": {
      "deleted": true,
      "revision": 7
    }
  },
  "delete_company": {
    "response": {
      "deleted": true,
      "revision": 8
    }
  },
  "stream_events": {
    "response": "id: 01M8NYQF4T65QJGN3E5G8ZFTZ6\nevent: identified\ndata: {\"id\":\"01M8NYQF4T65QJGN3E5G8ZFTZ6\",\"company_id\":\"acme\",\"user_id\":\"aaron\",\"confidence\":0.9502,\"threshold\":0.2828,\"kiosk_id\":\"gate-2\",\"source\":\"api\",\"at\":\"2026-11-30T10:06:39.258Z\",\"frames\":null}\n\n"
  }
};

export const METRICS_EXAMPLE = `# HELP facegate_http_requests_total HTTP requests by method, route and status.\n# TYPE facegate_http_requests_total counter\nfacegate_http_requests_total{method="POST",route="/v1/companies/:company/recognize",status="200"} 42\n`;
