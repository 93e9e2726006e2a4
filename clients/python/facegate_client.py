"""facegate client for Python backends: a drop-in ``MessageProducer``.

One file, standard library only, Python 3.9+. It speaks facegate's HTTP API with the method
names, arguments, return shapes and exceptions of the old RabbitMQ system's ``MessageProducer``,
so a backend migrates by changing one import line::

    # from broker import MessageProducer, ProducerError
    from facegate_client import MessageProducer, ProducerError

    with MessageProducer() as producer:          # FACEGATE_URL / FACEGATE_API_KEY, or arguments
        producer.create_company("company_123")
        embedding = producer.create_user("company_123", "john_doe", "face_001", image_base64)
        user_id, confidence, bbox = producer.recognize_face("company_123", image_base64)

Exceptions (as the old system): ``ValueError`` for empty ids (raised before any request);
``ProducerError`` when the server refused or failed the operation (its ``code`` attribute holds
facegate's error code, e.g. ``USER_EXISTS``; the message is the old system's, e.g. "User already
exists"); the built-ins ``ConnectionError`` (server unreachable, or no worker available) and
``TimeoutError`` (no answer within ``timeout`` seconds).

Retries: every call is retried up to ``max_retries`` times after a connection failure, a timeout,
429 or 503, with exponential back-off and jitter from ``retry_delay``. Each write (create, delete,
enroll, settings, webhooks) sends an ``Idempotency-Key`` made for that call, the same on each of its
retries: the server answers a retry of a write that did land with its first answer, so a retried
enrollment returns its own embedding (never "User already exists") and a retried delete True.

Beyond the old API: ``recognize_face(..., record=True, kiosk_id=...)`` records the identification
in facegate's event log; ``list_events``/``iter_events``, ``attendance``, ``set_webhook``/
``get_webhook``/``delete_webhook``/``retry_webhook``, ``list_companies``/``list_users`` (and their
``iter_`` forms), and ``verify_webhook_signature`` for a Python webhook receiver.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "MessageProducer",
    "ProducerConfig",
    "ProducerError",
    "get_config_from_env",
    "verify_webhook_signature",
]

__version__ = "1.0.0"

ImageArg = Union[str, bytes, bytearray]
BBox = List[int]


class ProducerError(Exception):
    """The server refused or failed the operation. ``code`` is facegate's error code."""

    def __init__(self, message: str, code: str = "INTERNAL", status: int = 0, detail: str = ""):
        super().__init__(message)
        self.code = code
        self.status = status
        #: the server's own message (more specific than the old system's wording)
        self.detail = detail


# The old system's messages for facegate's codes (old-system-messaging.md, "Edge Cases").
_OLD_MESSAGES = {
    "COMPANY_NOT_FOUND": "Company does not exist",
    "USER_NOT_FOUND": "User does not exist",
    "USER_EXISTS": "User already exists",
    "FACE_EXISTS": "Face ID already exists for this user",
    "NO_FACE": "No face detected in image",
    "INVALID_IMAGE": "Image processing failed",
    "IMAGE_TOO_LARGE": "Image processing failed: image too large",
    "FACE_TOO_SMALL": "No face detected in image: face too small",
    "MULTIPLE_FACES": "Multiple faces detected in image",
    "MODEL_MISMATCH": "Embedding model mismatch",
}


@dataclass
class ProducerConfig:
    """Settings. ``url``/``api_key`` default to FACEGATE_URL / FACEGATE_API_KEY.

    The old RabbitMQ fields (host, port, username, password, vhost, heartbeat,
    blocked_connection_timeout) are accepted and ignored, so old configuration code still runs.
    """

    url: Optional[str] = None
    api_key: Optional[str] = None
    timeout: float = 30.0
    max_retries: int = 3
    retry_delay: float = 1.0
    host: Optional[str] = None
    port: Optional[int] = None
    username: Optional[str] = None
    password: Optional[str] = None
    vhost: Optional[str] = None
    heartbeat: Optional[int] = None
    blocked_connection_timeout: Optional[int] = None


def get_config_from_env() -> ProducerConfig:
    """FACEGATE_URL, FACEGATE_API_KEY; PUBLISHER_TIMEOUT and PUBLISHER_MAX_RETRIES as the old system."""
    return ProducerConfig(
        url=os.environ.get("FACEGATE_URL") or None,
        api_key=os.environ.get("FACEGATE_API_KEY") or None,
        timeout=float(os.environ.get("PUBLISHER_TIMEOUT") or 30),
        max_retries=int(os.environ.get("PUBLISHER_MAX_RETRIES") or 3),
    )


def verify_webhook_signature(secret: str, body: Union[str, bytes], header: Optional[str], tolerance: int = 300) -> bool:
    """True when ``header`` (Facegate-Signature: t=<unix>,v1=<hex>) signs ``body`` with ``secret``.

    Pass the raw request body (before JSON parsing). ``tolerance`` bounds the timestamp's age in
    seconds, so a captured request cannot be replayed later.
    """
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - t) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    expected = hmac.new(secret.encode("utf-8"), str(t).encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _require(value: Any, what: str) -> str:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise ValueError(f"{what} cannot be empty")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    # facegate's id rules (checked here too, so a bad id is a ValueError as in the old client)
    if what.endswith(" ID") and (len(value) > 128 or value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise ValueError(f"{what} is invalid: at most 128 characters, no control characters, no surrounding spaces")
    return value


def _image(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        if len(value) == 0:
            raise ValueError("Image cannot be empty")
        return base64.b64encode(bytes(value)).decode("ascii")
    if not isinstance(value, str) or value.strip() == "":
        raise ValueError("Image cannot be empty")
    return value


def _bbox(value: Any) -> Optional[BBox]:
    if value is None:
        return None
    return [int(round(float(v))) for v in value]


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class _Refused(Exception):
    """An answer that a retry may change (429, 503): carries what to raise when retries run out."""

    def __init__(self, error: Exception, started: bool, retry_after: Optional[float]):
        super().__init__(str(error))
        self.error = error
        self.started = started
        self.retry_after = retry_after


class MessageProducer:
    """The old ``MessageProducer`` over facegate's HTTP API.

    ``MessageProducer()`` reads FACEGATE_URL (default http://127.0.0.1:8080) and FACEGATE_API_KEY;
    ``MessageProducer(config)`` takes a ``ProducerConfig``; keyword arguments override both.
    """

    def __init__(
        self,
        config: Optional[ProducerConfig] = None,
        *,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        retry_delay: Optional[float] = None,
    ):
        env = get_config_from_env()
        cfg = config or env
        self.url = (url or cfg.url or env.url or "http://127.0.0.1:8080").rstrip("/")
        self.api_key = api_key if api_key is not None else (cfg.api_key if cfg.api_key is not None else env.api_key)
        self.timeout = float(timeout if timeout is not None else cfg.timeout)
        self.max_retries = int(max_retries if max_retries is not None else cfg.max_retries)
        self.retry_delay = float(retry_delay if retry_delay is not None else cfg.retry_delay)
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "MessageProducer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (one HTTP request per call); later calls raise ConnectionError."""
        self._closed = True

    # ------------------------------------------------------------------ transport

    def _once(
        self, method: str, path: str, body: Optional[Dict[str, Any]], accept_503: bool, key: Optional[str] = None
    ) -> Tuple[int, Any, Dict[str, str]]:
        data = None
        headers = {"Accept": "application/json", "User-Agent": f"facegate-python/{__version__}"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is not None:
            data = json.dumps({k: v for k, v in body.items() if v is not None}).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                return res.status, _json(res.read()), dict(res.headers.items())
        except urllib.error.HTTPError as e:
            status = e.code
            payload = _json(e.read())
            hdrs = dict(e.headers.items()) if e.headers else {}
            if status == 503 and accept_503 and isinstance(payload, dict) and "status" in payload:
                return status, payload, hdrs
            err = payload.get("error") if isinstance(payload, dict) else None
            code = err.get("code", "INTERNAL") if isinstance(err, dict) else "INTERNAL"
            message = err.get("message", f"HTTP {status}") if isinstance(err, dict) else f"HTTP {status}"
            retry_after = _retry_after(hdrs)
            if status == 429:
                raise _Refused(ProducerError(f"Rate limited: {message}", code, status, message), False, retry_after)
            if status == 503:
                # With Retry-After: refused before any work started (busy); without: may have run.
                error: Exception = (
                    TimeoutError(f"Request timed out: {message}") if code == "TIMEOUT" else ConnectionError(f"No workers available: {message}")
                )
                raise _Refused(error, retry_after is None, retry_after)
            raise ProducerError(_OLD_MESSAGES.get(code, message), code, status, message)
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise _Refused(TimeoutError(f"Request timed out after {self.timeout:g} s"), True, None)
            refused = isinstance(reason, ConnectionRefusedError)
            raise _Refused(ConnectionError(f"Cannot reach facegate at {self.url}: {reason}"), not refused, None)
        except (socket.timeout, TimeoutError):
            raise _Refused(TimeoutError(f"Request timed out after {self.timeout:g} s"), True, None)
        except (ConnectionError, OSError) as e:
            raise _Refused(ConnectionError(f"Connection to facegate at {self.url} failed: {e}"), True, None)

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, *, idempotent: bool = True, accept_503: bool = False) -> Any:
        if self._closed:
            raise ConnectionError("MessageProducer is closed")
        attempt = 0
        # One key per write call: its retries are answered as the first attempt was.
        key = str(uuid.uuid4()) if method != "GET" else None
        while True:
            try:
                return self._once(method, path, body, accept_503, key)[1]
            except _Refused as r:
                safe = idempotent or not r.started or key is not None
                if not safe or attempt >= self.max_retries:
                    raise r.error from None
                delay = r.retry_after if r.retry_after is not None else self.retry_delay * (2 ** attempt)
                time.sleep(min(60.0, delay) * (0.5 + random.random() / 2))
                attempt += 1

    # ------------------------------------------------------------------ company management

    def create_company(self, company_id: str) -> bool:
        """True when created, and True when it already existed (idempotent)."""
        _require(company_id, "Company ID")
        self._call("POST", "/v1/companies", {"company_id": company_id})
        return True

    def delete_company(self, company_id: str) -> bool:
        """Deletes the company with all its users and faces; False when it did not exist."""
        _require(company_id, "Company ID")
        return bool(self._call("DELETE", f"/v1/companies/{_q(company_id)}")["deleted"])

    # ------------------------------------------------------------------ user management

    def create_user(self, company_id: str, user_id: str, face_id: str, image_base64: ImageArg) -> List[float]:
        """Creates the user with a first face; returns its 512-d embedding."""
        _require(company_id, "Company ID")
        _require(user_id, "User ID")
        _require(face_id, "Face ID")
        # the server leaves the embedding out unless asked; this method returns it (the old API did)
        body = {"user_id": user_id, "face_id": face_id, "image": _image(image_base64), "return_embedding": True}
        return list(self._call("POST", f"/v1/companies/{_q(company_id)}/users", body, idempotent=False)["embedding"])

    def add_face(self, company_id: str, user_id: str, face_id: str, image_base64: ImageArg) -> List[float]:
        """Adds a face to an existing user; returns its embedding."""
        _require(company_id, "Company ID")
        _require(user_id, "User ID")
        _require(face_id, "Face ID")
        body = {"face_id": face_id, "image": _image(image_base64), "return_embedding": True}
        path = f"/v1/companies/{_q(company_id)}/users/{_q(user_id)}/faces"
        return list(self._call("POST", path, body, idempotent=False)["embedding"])

    def delete_user(self, company_id: str, user_id: str) -> bool:
        """Deletes the user and all their faces; False when the user did not exist."""
        _require(company_id, "Company ID")
        _require(user_id, "User ID")
        return bool(self._call("DELETE", f"/v1/companies/{_q(company_id)}/users/{_q(user_id)}")["deleted"])

    def delete_face(self, company_id: str, user_id: str, face_id: str) -> bool:
        """False when the face (or the user) does not exist; deleting the last face keeps the user."""
        _require(company_id, "Company ID")
        _require(user_id, "User ID")
        _require(face_id, "Face ID")
        path = f"/v1/companies/{_q(company_id)}/users/{_q(user_id)}/faces/{_q(face_id)}"
        return bool(self._call("DELETE", path)["deleted"])

    # ------------------------------------------------------------------ recognition

    def recognize_face(
        self,
        company_id: str,
        image_base64: ImageArg,
        *,
        threshold: Optional[float] = None,
        record: bool = False,
        kiosk_id: Optional[str] = None,
        source: Optional[str] = None,
    ) -> Tuple[Optional[str], float, Optional[BBox]]:
        """(user_id, confidence, bbox): no face or unknown company → (None, 0.0, None); below the
        threshold → (None, score, bbox); several faces → the best match. ``record=True`` stores a
        successful identification in the event log (and sends it to the company's webhook)."""
        _require(company_id, "Company ID")
        body: Dict[str, Any] = {"image": _image(image_base64), "threshold": threshold}
        if record:
            body.update({"record": True, "kiosk_id": kiosk_id, "source": source})
        r = self._call("POST", f"/v1/companies/{_q(company_id)}/recognize", body)
        return r.get("user_id"), float(r.get("confidence") or 0.0), _bbox(r.get("bbox"))

    def detect_faces(self, image_base64: ImageArg) -> Tuple[int, List[BBox]]:
        """(count, [[x, y, width, height], ...]); (0, []) when there is none."""
        r = self._call("POST", "/v1/detect", {"image": _image(image_base64)})
        boxes = [_bbox(b) or [] for b in r.get("bboxes", [])]
        return int(r.get("faces_count", len(boxes))), boxes

    def generate_embedding(self, image_base64: ImageArg) -> List[float]:
        """512 floats, L2-normalised, of the main face; ProducerError when there is no face."""
        return list(self._call("POST", "/v1/embed", {"image": _image(image_base64)})["embedding"])

    # ------------------------------------------------------------------ utility

    def get_user_faces(self, company_id: str, user_id: str) -> List[str]:
        """The user's face ids; [] when the user or the company does not exist."""
        _require(company_id, "Company ID")
        _require(user_id, "User ID")
        return list(self._call("GET", f"/v1/companies/{_q(company_id)}/users/{_q(user_id)}/faces")["face_ids"])

    def health_check(self) -> Dict[str, Any]:
        """{"status": "healthy" | "unhealthy", "response_time_ms", "worker_info": {...}, ...}."""
        started = time.monotonic()
        try:
            r = self._call("GET", "/v1/health", accept_503=True)
        except TimeoutError:
            raise TimeoutError("Health check timed out") from None
        elapsed = (time.monotonic() - started) * 1000
        out = dict(r) if isinstance(r, dict) else {}
        status = str(out.get("status", "unhealthy"))
        out["status"] = "healthy" if status in ("healthy", "ok", "degraded") else "unhealthy"
        if status not in ("healthy", "unhealthy"):
            out["server_status"] = status
        out.setdefault("response_time_ms", round(elapsed, 1))
        out.setdefault("worker_info", {})
        return out

    def get_cache_stats(self) -> Dict[str, Any]:
        """The old statistics: counts, uptime, tasks, worker id, cache_info keyed by company."""
        try:
            # every company, as the old answer (the server answers totals unless asked)
            r = dict(self._call("GET", "/v1/stats?detail=companies"))
        except TimeoutError:
            raise TimeoutError("Stats request timed out") from None
        per_company = r.get("companies")
        cache_info = r.get("cache_info") or {}
        if isinstance(per_company, dict):
            companies = per_company
        else:
            companies = {k: v for k, v in cache_info.items() if isinstance(v, dict) and "users" in v and "faces" in v}
        r["cache_info"] = {k: {"users": int(v.get("users", 0)), "faces": int(v.get("faces", 0))} for k, v in companies.items()}
        if cache_info and any(k not in r["cache_info"] for k in cache_info):
            r.setdefault("server_info", {k: v for k, v in cache_info.items() if k not in r["cache_info"]})
        r.pop("companies", None)
        return r

    # ------------------------------------------------------------------ listing (facegate)

    def list_companies(self, cursor: Optional[str] = None, limit: Optional[int] = None) -> Dict[str, Any]:
        """One page: {"companies": [{"company_id", "users", "faces"}], "total", "next_cursor"} (admin key)."""
        return self._call("GET", "/v1/companies" + _qs(cursor=cursor, limit=limit))

    def iter_companies(self, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        cursor = None
        while True:
            page = self.list_companies(cursor, page_size)
            yield from page["companies"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def list_users(self, company_id: str, cursor: Optional[str] = None, limit: Optional[int] = None) -> Dict[str, Any]:
        """One page: {"users": [{"user_id", "faces"}], "total", "next_cursor"}; ProducerError for an unknown company."""
        _require(company_id, "Company ID")
        return self._call("GET", f"/v1/companies/{_q(company_id)}/users" + _qs(cursor=cursor, limit=limit))

    def iter_users(self, company_id: str, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        cursor = None
        while True:
            page = self.list_users(company_id, cursor, page_size)
            yield from page["users"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # ------------------------------------------------------------------ events and webhooks (facegate)

    def list_events(
        self,
        company_id: str,
        since: Union[str, int, None] = None,
        until: Union[str, int, None] = None,
        user_id: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        order: str = "desc",
    ) -> Dict[str, Any]:
        """One page of events, newest first (order="asc": oldest first). ``since``/``until``: ISO
        8601 or milliseconds since the epoch. Returns {"events": [...], "next_cursor"}."""
        _require(company_id, "Company ID")
        q = _qs(since=since, until=until, user_id=user_id, limit=limit, cursor=cursor, order=order)
        return self._call("GET", f"/v1/companies/{_q(company_id)}/events" + q)

    def iter_events(self, company_id: str, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every matching event, page after page (filters as list_events)."""
        filters = dict(filters)
        while True:
            page = self.list_events(company_id, **filters)
            yield from page["events"]
            if not page.get("next_cursor"):
                return
            filters["cursor"] = page["next_cursor"]

    def attendance(self, company_id: str, date: str, utc_offset: str = "+00:00") -> Dict[str, Any]:
        """First and last event per user on ``date`` (YYYY-MM-DD) at ``utc_offset`` (+HH:MM)."""
        _require(company_id, "Company ID")
        return self._call("GET", f"/v1/companies/{_q(company_id)}/attendance" + _qs(date=date, utc_offset=utc_offset))

    def set_webhook(self, company_id: str, url: str, secret: Optional[str] = None) -> Dict[str, Any]:
        """Every event of the company is POSTed to ``url``, signed with ``secret`` (generated and
        returned once under "secret" when omitted)."""
        _require(company_id, "Company ID")
        _require(url, "Webhook URL")
        return self._call("PUT", f"/v1/companies/{_q(company_id)}/webhook", {"url": url, "secret": secret})

    def get_webhook(self, company_id: str) -> Optional[Dict[str, Any]]:
        """Status (pending, dead_letters, last_error, ...), or None when the company has none."""
        _require(company_id, "Company ID")
        try:
            return self._call("GET", f"/v1/companies/{_q(company_id)}/webhook")
        except ProducerError as e:
            if e.code == "NOT_FOUND":
                return None
            raise

    def delete_webhook(self, company_id: str) -> bool:
        _require(company_id, "Company ID")
        return bool(self._call("DELETE", f"/v1/companies/{_q(company_id)}/webhook")["deleted"])

    def retry_webhook(self, company_id: str) -> int:
        """Puts the dead letters back in the queue; returns how many."""
        _require(company_id, "Company ID")
        return int(self._call("POST", f"/v1/companies/{_q(company_id)}/webhook/retry")["requeued"])


def _qs(**params: Any) -> str:
    pairs = [(k, str(v)) for k, v in params.items() if v is not None]
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def _retry_after(headers: Dict[str, str]) -> Optional[float]:
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except ValueError:
                return None
    return None
