"""The drop-in MessageProducer against a real facegate server (unittest, standard library only).

Run by test/clients/python/python-client.test.ts, which starts the server and sets:
  FACEGATE_URL, FACEGATE_API_KEY (an admin key), FACEGATE_TEST_COMPANY_KEY (a key for company
  "py_other" only), FACEGATE_TEST_IMAGES (person_a1.jpg, person_a2.jpg, person_b.jpg, group.jpg,
  noface.jpg), FACEGATE_TEST_RECEIVER (a local webhook receiver's URL; GET on it lists deliveries),
  FACEGATE_TEST_LOSSY_URL (a proxy to the server that loses each write's first answer).
Every case of the old system's documentation (old-system-messaging.md) has a test here.
"""

import base64
import json
import os
import socket
import sys
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from facegate_client import (  # noqa: E402  (the import line a migrated backend uses)
    MessageProducer,
    ProducerConfig,
    ProducerError,
    get_config_from_env,
    verify_webhook_signature,
)

IMAGES = os.environ.get("FACEGATE_TEST_IMAGES", "")


def image(name: str) -> str:
    with open(os.path.join(IMAGES, name), "rb") as f:
        return base64.b64encode(f.read()).decode()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = MessageProducer()
        cls.a1 = image("person_a1.jpg")
        cls.a2 = image("person_a2.jpg")
        cls.b = image("person_b.jpg")
        cls.group = image("group.jpg")
        cls.noface = image("noface.jpg")

    @classmethod
    def tearDownClass(cls):
        cls.p.close()

    def company(self) -> str:
        c = unique("py_co")
        self.assertTrue(self.p.create_company(c))
        self.addCleanup(lambda: self.p.delete_company(c))
        return c


class CompanyManagement(Base):
    def test_create_company_new_and_idempotent(self):
        c = unique("py_co")
        self.assertIs(self.p.create_company(c), True)
        self.assertIs(self.p.create_company(c), True)  # Case 2: already exists
        self.assertIs(self.p.delete_company(c), True)

    def test_create_company_empty_id_is_value_error(self):
        with self.assertRaises(ValueError) as cm:
            self.p.create_company("")
        self.assertEqual(str(cm.exception), "Company ID cannot be empty")
        with self.assertRaises(ValueError):
            self.p.create_company(None)  # type: ignore[arg-type]
        for bad in ("   ", " padded ", "x" * 129, "tab\there"):
            with self.assertRaises(ValueError):
                self.p.create_company(bad)

    def test_delete_company_cascades(self):
        c = unique("py_co")
        self.p.create_company(c)
        self.p.create_user(c, "john", "face_1", self.a1)
        self.p.add_face(c, "john", "face_2", self.a2)
        self.assertIs(self.p.delete_company(c), True)
        self.assertEqual(self.p.get_user_faces(c, "john"), [])
        self.assertEqual(self.p.recognize_face(c, self.a1), (None, 0.0, None))
        self.assertIs(self.p.create_company(c), True)  # the users are gone with it
        self.assertEqual(self.p.get_user_faces(c, "john"), [])
        self.p.delete_company(c)

    def test_delete_missing_and_empty_company(self):
        self.assertIs(self.p.delete_company(unique("nonexistent")), False)
        c = unique("py_empty")
        self.p.create_company(c)
        self.assertIs(self.p.delete_company(c), True)  # Case 3: no users


class UserManagement(Base):
    def test_create_user_returns_512_floats(self):
        c = self.company()
        emb = self.p.create_user(company_id=c, user_id="john_doe", face_id="face_001", image_base64=self.a1)
        self.assertIsInstance(emb, list)
        self.assertEqual(len(emb), 512)
        self.assertTrue(all(isinstance(v, float) for v in emb))
        self.assertAlmostEqual(sum(v * v for v in emb), 1.0, places=3)

    def test_create_user_unknown_company(self):
        with self.assertRaises(ProducerError) as cm:
            self.p.create_user(unique("nonexistent"), "john", "face_1", self.a1)
        self.assertEqual(str(cm.exception), "Company does not exist")
        self.assertEqual(cm.exception.code, "COMPANY_NOT_FOUND")

    def test_create_user_already_exists(self):
        c = self.company()
        self.p.create_user(c, "john_doe", "face_001", self.a1)
        with self.assertRaises(ProducerError) as cm:
            self.p.create_user(c, "john_doe", "face_001", self.a1)
        self.assertEqual(str(cm.exception), "User already exists")

    def test_create_user_no_face(self):
        c = self.company()
        with self.assertRaises(ProducerError) as cm:
            self.p.create_user(c, "john", "face_1", self.noface)
        self.assertEqual(str(cm.exception), "No face detected in image")
        self.assertEqual(self.p.get_user_faces(c, "john"), [])

    def test_create_user_invalid_image(self):
        c = self.company()
        for bad in ("invalid_base64", base64.b64encode(b"this is not an image").decode()):
            with self.assertRaises(ProducerError) as cm:
                self.p.create_user(c, "john", "face_1", bad)
            self.assertEqual(str(cm.exception), "Image processing failed")

    def test_create_user_multiple_faces_uses_one(self):
        c = self.company()
        emb = self.p.create_user(c, "john", "face_1", self.group)
        self.assertEqual(len(emb), 512)

    def test_create_user_empty_ids(self):
        c = self.company()
        for args, msg in (
            (("", "u", "f"), "Company ID cannot be empty"),
            ((c, "", "f"), "User ID cannot be empty"),
            ((c, "u", ""), "Face ID cannot be empty"),
        ):
            with self.assertRaises(ValueError) as cm:
                self.p.create_user(*args, self.a1)
            self.assertEqual(str(cm.exception), msg)
        with self.assertRaises(ValueError):
            self.p.create_user(c, "u", "f", "")

    def test_add_face(self):
        c = self.company()
        self.p.create_user(c, "john_doe", "face_001", self.a1)
        emb = self.p.add_face(c, "john_doe", "face_002", self.a2)
        self.assertEqual(len(emb), 512)
        self.assertEqual(sorted(self.p.get_user_faces(c, "john_doe")), ["face_001", "face_002"])

    def test_add_face_errors(self):
        c = self.company()
        self.p.create_user(c, "john_doe", "face_001", self.a1)
        with self.assertRaises(ProducerError) as cm:
            self.p.add_face(c, "nonexistent_user", "face_2", self.a1)
        self.assertEqual(str(cm.exception), "User does not exist")
        with self.assertRaises(ProducerError) as cm:
            self.p.add_face(c, "john_doe", "face_001", self.a2)
        self.assertEqual(str(cm.exception), "Face ID already exists for this user")
        with self.assertRaises(ProducerError) as cm:
            self.p.add_face(c, "john_doe", "face_2", self.noface)
        self.assertEqual(str(cm.exception), "No face detected in image")
        with self.assertRaises(ProducerError) as cm:
            self.p.add_face(unique("nonexistent"), "john_doe", "face_2", self.a1)
        self.assertEqual(str(cm.exception), "Company does not exist")

    def test_delete_user_cascades_and_missing(self):
        c = self.company()
        self.p.create_user(c, "u3", "f1", self.a1)
        self.p.add_face(c, "u3", "f2", self.a2)
        self.p.add_face(c, "u3", "f3", self.a1)
        self.assertIs(self.p.delete_user(c, "u3"), True)  # Case 3: all 3 faces removed
        self.assertEqual(self.p.get_user_faces(c, "u3"), [])
        self.assertIs(self.p.delete_user(c, "u3"), False)
        self.assertIs(self.p.delete_user(c, "nonexistent_user"), False)

    def test_delete_face_cases(self):
        c = self.company()
        self.p.create_user(c, "john_doe", "face_001", self.a1)
        self.p.add_face(c, "john_doe", "face_002", self.a2)
        self.assertIs(self.p.delete_face(c, "john_doe", "face_002"), True)
        self.assertIs(self.p.delete_face(c, "john_doe", "nonexistent_face"), False)
        self.assertIs(self.p.delete_face(c, "nonexistent_user", "face_001"), False)
        self.assertIs(self.p.delete_face(c, "john_doe", "face_001"), True)  # the last face
        self.assertEqual(self.p.get_user_faces(c, "john_doe"), [])
        # the user still exists: creating it again is refused, adding a face works
        with self.assertRaises(ProducerError):
            self.p.create_user(c, "john_doe", "face_003", self.a1)
        self.p.add_face(c, "john_doe", "face_003", self.a1)
        self.assertEqual(self.p.get_user_faces(c, "john_doe"), ["face_003"])


class Recognition(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = unique("py_rec")
        cls.p.create_company(cls.c)
        cls.p.create_user(cls.c, "user_001", "face_001", cls.a1)

    @classmethod
    def tearDownClass(cls):
        cls.p.delete_company(cls.c)
        super().tearDownClass()

    def test_recognize_known_face(self):
        user_id, confidence, bbox = self.p.recognize_face(company_id=self.c, image_base64=self.a2)
        self.assertEqual(user_id, "user_001")
        self.assertIsInstance(confidence, float)
        self.assertGreater(confidence, 0.4)
        self.assertLessEqual(confidence, 1.0)
        self.assertIsInstance(bbox, list)
        self.assertEqual(len(bbox), 4)
        self.assertTrue(all(isinstance(v, int) for v in bbox))

    def test_recognize_no_face(self):
        self.assertEqual(self.p.recognize_face(self.c, self.noface), (None, 0.0, None))

    def test_recognize_unknown_person_below_threshold(self):
        user_id, confidence, bbox = self.p.recognize_face(self.c, self.b)
        self.assertIsNone(user_id)
        self.assertLess(confidence, 0.4)
        self.assertEqual(len(bbox), 4)

    def test_recognize_multiple_faces_returns_best_match(self):
        c = self.company()
        self.p.create_user(c, "grp", "f1", self.group)
        user_id, confidence, bbox = self.p.recognize_face(c, self.group)
        self.assertEqual(user_id, "grp")
        self.assertGreater(confidence, 0.9)
        self.assertEqual(len(bbox), 4)

    def test_recognize_unknown_company(self):
        self.assertEqual(self.p.recognize_face(unique("nonexistent_company"), self.a1), (None, 0.0, None))

    def test_recognize_invalid_image(self):
        with self.assertRaises(ProducerError) as cm:
            self.p.recognize_face(self.c, "invalid_base64")
        self.assertEqual(str(cm.exception), "Image processing failed")

    def test_detect_faces(self):
        self.assertEqual(self.p.detect_faces(self.noface), (0, []))
        count, boxes = self.p.detect_faces(self.a1)
        self.assertEqual(count, 1)
        self.assertEqual(len(boxes), 1)
        self.assertTrue(all(isinstance(v, int) for v in boxes[0]))
        count, boxes = self.p.detect_faces(self.group)
        self.assertGreaterEqual(count, 2)
        self.assertEqual(len(boxes), count)
        for box in boxes:
            self.assertEqual(len(box), 4)
            self.assertTrue(all(isinstance(v, int) for v in box))
        with self.assertRaises(ProducerError) as cm:
            self.p.detect_faces("invalid_base64")
        self.assertEqual(str(cm.exception), "Image processing failed")

    def test_generate_embedding(self):
        emb = self.p.generate_embedding(self.a1)
        self.assertEqual(len(emb), 512)
        self.assertAlmostEqual(sum(v * v for v in emb), 1.0, places=3)
        self.assertEqual(len(self.p.generate_embedding(self.group)), 512)  # Case 3: one face's
        with self.assertRaises(ProducerError) as cm:
            self.p.generate_embedding(self.noface)
        self.assertEqual(str(cm.exception), "No face detected in image")
        with self.assertRaises(ProducerError) as cm:
            self.p.generate_embedding("corrupted_base64")
        self.assertEqual(str(cm.exception), "Image processing failed")

    def test_bytes_are_accepted_as_images(self):
        with open(os.path.join(IMAGES, "person_a2.jpg"), "rb") as f:
            self.assertEqual(self.p.recognize_face(self.c, f.read())[0], "user_001")


class Utility(Base):
    def test_get_user_faces_cases(self):
        c = self.company()
        self.p.create_user(c, "john_doe", "face_001", self.a1)
        self.p.add_face(c, "john_doe", "face_002", self.a2)
        self.p.add_face(c, "john_doe", "face_003", self.a1)
        self.assertEqual(self.p.get_user_faces(c, "john_doe"), ["face_001", "face_002", "face_003"])
        self.p.create_user(c, "jane_doe", "face_001", self.b)
        self.assertEqual(self.p.get_user_faces(c, "jane_doe"), ["face_001"])
        self.p.delete_face(c, "jane_doe", "face_001")
        self.assertEqual(self.p.get_user_faces(c, "jane_doe"), [])  # user with no faces
        self.assertEqual(self.p.get_user_faces(c, "nonexistent_user"), [])
        self.assertEqual(self.p.get_user_faces(unique("nonexistent_company"), "john_doe"), [])

    def test_health_check(self):
        health = self.p.health_check()
        self.assertEqual(health["status"], "healthy")
        self.assertIsInstance(health["response_time_ms"], (int, float))
        self.assertIsInstance(health["worker_info"], dict)

    def test_get_cache_stats(self):
        c = self.company()
        self.p.create_user(c, "u1", "f1", self.a1)
        self.p.add_face(c, "u1", "f2", self.a2)
        stats = self.p.get_cache_stats()
        for key in ("worker_id", "companies_count", "users_count", "faces_count", "embeddings_count", "uptime_seconds", "total_tasks_processed"):
            self.assertIn(key, stats)
        self.assertEqual(stats["cache_info"][c], {"users": 1, "faces": 2})
        self.assertGreaterEqual(stats["companies_count"], 1)


class Errors(Base):
    def test_unreachable_server_is_connection_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = MessageProducer(url=f"http://127.0.0.1:{port}", max_retries=1, retry_delay=0.01)
        with self.assertRaises(ConnectionError):
            p.health_check()
        with self.assertRaises(ConnectionError):
            p.create_company("x")

    def test_server_that_does_not_answer_is_timeout_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts connections, never answers
        self.addCleanup(s.close)
        p = MessageProducer(url=f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.3, max_retries=0)
        with self.assertRaises(TimeoutError) as cm:
            p.health_check()
        self.assertEqual(str(cm.exception), "Health check timed out")
        with self.assertRaises(TimeoutError):
            p.get_cache_stats()
        with self.assertRaises(TimeoutError):
            p.create_user("c", "u", "f", self.a1)

    def test_wrong_key_and_other_company(self):
        with self.assertRaises(ProducerError) as cm:
            MessageProducer(api_key="k-wrong-0000000000", max_retries=0).create_company("x")
        self.assertEqual(cm.exception.code, "UNAUTHORIZED")
        other = MessageProducer(api_key=os.environ["FACEGATE_TEST_COMPANY_KEY"])
        self.assertTrue(other.create_company("py_other"))
        with self.assertRaises(ProducerError) as cm:
            other.create_company(unique("py_not_mine"))
        self.assertEqual(cm.exception.code, "FORBIDDEN")

    def test_closed_producer(self):
        p = MessageProducer()
        p.close()
        with self.assertRaises(ConnectionError):
            p.health_check()

    def test_context_manager_and_config(self):
        with MessageProducer() as p:
            self.assertEqual(p.health_check()["status"], "healthy")
        cfg = get_config_from_env()
        self.assertEqual(cfg.url, os.environ["FACEGATE_URL"])
        # old RabbitMQ settings are accepted (and ignored)
        old = ProducerConfig(host="localhost", timeout=60, max_retries=5, heartbeat=600, url=os.environ["FACEGATE_URL"], api_key=cfg.api_key)
        with MessageProducer(old) as p:
            self.assertEqual(p.timeout, 60)
            self.assertTrue(p.create_company(unique("py_cfg")))


class RetryPolicy(unittest.TestCase):
    """The retry rules need answers the real server gives only under overload (429, 503 with or
    without Retry-After), so a scripted stdlib HTTP server plays them here."""

    def serve(self, answers):
        import http.server
        import threading

        calls = []
        self.keys = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                calls.append(self.path)
                keys.append(self.headers.get("Idempotency-Key"))
                status, headers, body = answers[min(len(calls), len(answers)) - 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = json.dumps(body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = handle_one

        keys = self.keys
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}", calls

    BUSY = (503, {"Retry-After": "0"}, {"error": {"code": "UNAVAILABLE", "message": "server busy"}})
    RAN = (503, {}, {"error": {"code": "TIMEOUT", "message": "took too long"}})
    LIMITED = (429, {"Retry-After": "0"}, {"error": {"code": "RATE_LIMITED", "message": "slow down"}})

    def test_idempotent_calls_are_retried(self):
        url, calls = self.serve([self.BUSY, self.RAN, (200, {}, {"company_id": "c", "created": True})])
        self.assertTrue(MessageProducer(url=url, retry_delay=0.01).create_company("c"))
        self.assertEqual(len(calls), 3)

    def test_writes_are_retried_with_one_idempotency_key(self):
        ok = (201, {}, {"embedding": [0.0] * 512})
        url, calls = self.serve([self.LIMITED, self.BUSY, ok])
        self.assertEqual(len(MessageProducer(url=url, retry_delay=0.01).create_user("c", "u", "f", "aGVsbG8=")), 512)
        self.assertEqual(len(calls), 3)
        self.assertEqual(len(set(self.keys)), 1)
        # It may have run (503 without Retry-After): retried with the same key, which the server answers as the first time.
        url, calls = self.serve([self.RAN, ok])
        self.assertEqual(len(MessageProducer(url=url, retry_delay=0.01).add_face("c", "u", "f", "aGVsbG8=")), 512)
        self.assertEqual(len(calls), 2)
        self.assertEqual(len(set(self.keys)), 1)
        self.assertRegex(self.keys[0], r"^[0-9a-f-]{36}$")
        # Reads carry no key; each write call its own.
        url, calls = self.serve([(200, {}, {"face_ids": []}), (200, {}, {"deleted": True}), (200, {}, {"deleted": True})])
        p = MessageProducer(url=url, retry_delay=0.01)
        p.get_user_faces("c", "u")
        p.delete_user("c", "u")
        p.delete_user("c", "u")
        self.assertIsNone(self.keys[0])
        self.assertNotEqual(self.keys[1], self.keys[2])

    def test_retries_run_out(self):
        url, calls = self.serve([self.BUSY])
        with self.assertRaises(ConnectionError):
            MessageProducer(url=url, max_retries=2, retry_delay=0.01).delete_company("c")
        self.assertEqual(len(calls), 3)


class LostAnswers(Base):
    """Through a proxy in front of the real server that loses each write's first answer (503 TIMEOUT
    after the server applied it): the client's retry with the same key gets the true answer."""

    def setUp(self):
        self.lossy = MessageProducer(url=os.environ["FACEGATE_TEST_LOSSY_URL"], retry_delay=0.01)

    def attempts(self):
        with urllib.request.urlopen(os.environ["FACEGATE_TEST_LOSSY_URL"] + "/__lossy/keys") as r:
            return json.loads(r.read())

    def test_enrollment_and_delete_answer_truthfully_after_a_lost_answer(self):
        c = unique("py_lossy")
        self.assertTrue(self.lossy.create_company(c))
        self.addCleanup(lambda: self.p.delete_company(c))
        emb = self.lossy.create_user(c, "john_doe", "face_001", self.a1)
        self.assertEqual(len(emb), 512)  # its own enrollment, not "User already exists"
        self.assertEqual(self.p.get_user_faces(c, "john_doe"), ["face_001"])
        self.assertTrue(self.lossy.delete_user(c, "john_doe"))  # the request that deleted says so
        self.assertFalse(self.p.delete_user(c, "john_doe"))
        self.assertTrue(self.lossy.delete_company(c))
        self.assertTrue(all(n == 2 for n in self.attempts().values()))


class EventsAndWebhooks(Base):
    def test_record_list_iterate_attendance(self):
        c = self.company()
        self.p.create_user(c, "ann", "f1", self.a1)
        self.assertEqual(self.p.recognize_face(c, self.a2, record=True, kiosk_id="door-1")[0], "ann")
        self.p.recognize_face(c, self.a2, record=True, kiosk_id="door-2")
        self.p.recognize_face(c, self.a2)  # not recorded
        page = self.p.list_events(c)
        self.assertEqual([e["kiosk_id"] for e in page["events"]], ["door-2", "door-1"])
        self.assertEqual(page["events"][0]["user_id"], "ann")
        ordered = list(self.p.iter_events(c, order="asc", limit=1))
        self.assertEqual([e["kiosk_id"] for e in ordered], ["door-1", "door-2"])
        today = time.strftime("%Y-%m-%d", time.gmtime())
        att = self.p.attendance(c, today)
        self.assertEqual(att["users"][0]["user_id"], "ann")
        self.assertEqual(att["users"][0]["first"]["kiosk_id"], "door-1")
        self.assertEqual(att["users"][0]["last"]["kiosk_id"], "door-2")

    def test_lists(self):
        c = self.company()
        self.p.create_user(c, "ann", "f1", self.a1)
        self.p.add_face(c, "ann", "f2", self.a2)
        self.p.create_user(c, "bob", "f1", self.b)
        self.assertEqual(list(self.p.iter_users(c, page_size=1)), [{"user_id": "ann", "faces": 2}, {"user_id": "bob", "faces": 1}])
        self.assertIn({"company_id": c, "users": 2, "faces": 3}, list(self.p.iter_companies()))
        with self.assertRaises(ProducerError) as cm:
            self.p.list_users(unique("nonexistent"))
        self.assertEqual(cm.exception.code, "COMPANY_NOT_FOUND")

    def test_webhook_delivers_signed_events(self):
        c = self.company()
        receiver = os.environ["FACEGATE_TEST_RECEIVER"]
        self.assertIsNone(self.p.get_webhook(c))
        hook = self.p.set_webhook(c, f"{receiver}/{c}")
        secret = hook["secret"]
        self.assertTrue(secret.startswith("whsec_"))
        self.p.create_user(c, "ann", "f1", self.a1)
        self.p.recognize_face(c, self.a2, record=True)
        event_id = self.p.list_events(c)["events"][0]["id"]
        deliveries = []
        for _ in range(200):
            with urllib.request.urlopen(f"{receiver}/{c}") as r:
                deliveries = json.loads(r.read())
            if deliveries:
                break
            time.sleep(0.05)
        self.assertEqual(len(deliveries), 1)
        d = deliveries[0]
        self.assertTrue(verify_webhook_signature(secret, d["body"], d["signature"]))
        self.assertFalse(verify_webhook_signature("wrong-secret-0000000", d["body"], d["signature"]))
        self.assertFalse(verify_webhook_signature(secret, d["body"] + " ", d["signature"]))
        self.assertEqual(json.loads(d["body"])["id"], event_id)
        # the server notes the success once the receiver's answer is in
        for _ in range(200):
            status = self.p.get_webhook(c)
            if status["delivered"] == 1:
                break
            time.sleep(0.05)
        self.assertNotIn("secret", status)
        self.assertEqual(status["delivered"], 1)
        self.assertEqual(status["pending"], 0)
        self.assertEqual(self.p.retry_webhook(c), 0)
        self.assertIs(self.p.delete_webhook(c), True)
        self.assertIs(self.p.delete_webhook(c), False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
