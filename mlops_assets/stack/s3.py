"""Just enough S3 for the stack's checks: AWS Signature V4 requests with the standard library
(create a bucket, list keys), so health checks and tests need no boto3."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.error
import urllib.parse
import urllib.request


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def s3_request(method: str, endpoint: str, path: str, access_key: str, secret_key: str,
               query: dict[str, str] | None = None, body: bytes = b"",
               region: str = "us-east-1", timeout: float = 10.0) -> tuple[int, bytes]:
    """One signed path-style request; returns (status, body) and never raises on HTTP errors."""
    url = urllib.parse.urlsplit(endpoint)
    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted((query or {}).items())
    )
    canonical_path = urllib.parse.quote(path, safe="/-_.~")
    headers = {"host": url.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, canonical_path, canonical_query,
                           *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed,
                           payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + secret_key).encode(), day), region), "s3"),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    full = f"{endpoint.rstrip('/')}{canonical_path}" + (f"?{canonical_query}" if query else "")
    request = urllib.request.Request(full, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def list_keys(endpoint: str, bucket: str, access_key: str, secret_key: str,
              prefix: str = "") -> list[str]:
    """Keys under `prefix` (first 1000; enough for checks)."""
    status, body = s3_request("GET", endpoint, f"/{bucket}", access_key, secret_key,
                              query={"list-type": "2", "prefix": prefix})
    if status != 200:
        raise RuntimeError(f"S3 ListObjectsV2 on {bucket} returned {status}: {body[:300]!r}")
    return re.findall(r"<Key>([^<]*)</Key>", body.decode())


def ensure_bucket(endpoint: str, bucket: str, access_key: str, secret_key: str) -> None:
    status, body = s3_request("PUT", endpoint, f"/{bucket}", access_key, secret_key)
    if status not in (200, 409):  # 409: BucketAlreadyOwnedByYou
        raise RuntimeError(f"S3 CreateBucket {bucket} returned {status}: {body[:300]!r}")
