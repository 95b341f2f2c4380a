"""Every S3 client error the landing path can meet is one line naming the endpoint, bucket or key and why.

Conditions a server can produce are produced: moto's S3 server (a missing bucket, a missing key), a
closed port on 127.0.0.1 (connection refused), a local socket that accepts and never answers (read
timeout), a client with no credentials at all. moto accepts any access key and signature, so rejected
credentials, access denied and throttling are botocore ``ClientError`` objects built with the code an
S3 server answers (real exception objects, not a mocked client).
"""

import socket
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.storage.s3_landing import S3LandingCursor, S3LandingError, _explain, list_day, plan_s3_landing
from lascopf_assets_tests.dev_servers import free_port


def _client(endpoint_url, **config):
    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1", config=Config(retries={"max_attempts": 0}, **config))


def _resource(b, **over) -> S3LandingBucket:
    settings = dict(endpoint_url=b["endpoint_url"], bucket=b["bucket"], prefix="landing",
                    access_key=b["access_key"], secret_key=b["secret_key"], region=b["region"])
    return S3LandingBucket(**{**settings, **over})


@pytest.fixture
def silent_endpoint():
    """A socket on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_a_read_timeout_is_explained_not_an_attribute_error():
    err = _explain(ReadTimeoutError(endpoint_url="http://x:9000"), "b")
    assert str(err) == ("listing landing bucket 'b' failed: the endpoint http://x:9000 cannot be reached: "
                        "it accepted the connection but did not answer within the read timeout")


def test_read_timeout_on_a_socket_that_never_answers(silent_endpoint):
    client = _client(silent_endpoint, read_timeout=0.5, connect_timeout=2)
    with pytest.raises(S3LandingError) as info:
        plan_s3_landing(client, "landing-bucket", "landing", S3LandingCursor())
    assert str(info.value) == (f"listing landing bucket 'landing-bucket' failed: the endpoint {silent_endpoint} cannot be "
                               "reached: it accepted the connection but did not answer within the read timeout")


def test_connection_refused_on_a_closed_port(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(S3LandingError) as info:
        plan_s3_landing(_client(endpoint, connect_timeout=1), "landing-bucket", "landing", S3LandingCursor())
    assert str(info.value) == (f"listing landing bucket 'landing-bucket' failed: the endpoint {endpoint} cannot be "
                               "reached: the connection was refused or the host is unknown")
    # the resource's download path says the same
    resource = S3LandingBucket(endpoint_url=endpoint, bucket="landing-bucket", access_key="k", secret_key="s", max_attempts=1)
    with pytest.raises(S3LandingError, match=f"'landing-bucket' failed: the endpoint {endpoint} cannot be reached"):
        resource.download_day("2023-01-05", tmp_path)


def test_a_missing_bucket_names_bucket_and_endpoint(s3_bucket, tmp_path):
    with pytest.raises(S3LandingError) as info:
        list_day(s3_bucket["client"], "no-such-landing", "landing", "2023-01-05")
    assert str(info.value) == (f"listing landing bucket 'no-such-landing' failed: the bucket does not exist on the "
                               f"endpoint {s3_bucket['endpoint_url']}")
    with pytest.raises(S3LandingError, match="'no-such-landing' failed: the bucket does not exist"):
        _resource(s3_bucket, bucket="no-such-landing").download_day("2023-01-05", tmp_path)


def test_a_missing_key_names_the_key(s3_bucket):
    with pytest.raises(ClientError) as info:
        s3_bucket["client"].get_object(Bucket=s3_bucket["bucket"], Key="landing/2023-01-05/gone.csv")
    err = _explain(info.value, s3_bucket["bucket"], key="landing/2023-01-05/gone.csv")
    assert str(err) == (f"downloading landing object 'landing/2023-01-05/gone.csv' of bucket {s3_bucket['bucket']!r} "
                        "failed: the object does not exist (deleted after it was listed?)")


def test_no_credentials_at_all(s3_bucket, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    resource = _resource(s3_bucket, access_key="", secret_key="", max_attempts=1)
    with pytest.raises(S3LandingError) as info:
        resource.download_day("2023-01-05", tmp_path / "cache")
    assert str(info.value) == (f"listing landing bucket {s3_bucket['bucket']!r} failed: no credentials were found "
                               "(set the access key and secret key, or the AWS environment)")


def _client_error(code, message, status, operation="ListObjectsV2"):
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


@pytest.mark.parametrize(("code", "message", "status", "key", "reason"), [
    ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403, None,
     "the credentials were rejected: the endpoint http://s3:9000 does not know the access key (InvalidAccessKeyId)"),
    ("SignatureDoesNotMatch", "The request signature we calculated does not match.", 403, None,
     "the credentials were rejected: the secret key does not match the access key (SignatureDoesNotMatch)"),
    ("AccessDenied", "Access Denied", 403, None,
     "access denied: the credentials lack s3:ListBucket on this bucket (AccessDenied: Access Denied)"),
    ("AccessDenied", "Access Denied", 403, "landing/2023-01-05/a.csv",
     "access denied: the credentials lack s3:GetObject on this bucket (AccessDenied: Access Denied)"),
    ("SlowDown", "Please reduce your request rate.", 503, None,
     "the endpoint http://s3:9000 is throttling requests (SlowDown) and the retries ran out; retry later or slow the "
     "sensor down"),
    ("Throttling", "Rate exceeded", 400, None,
     "the endpoint http://s3:9000 is throttling requests (Throttling) and the retries ran out; retry later or slow the "
     "sensor down"),
    ("RequestLimitExceeded", "Request limit exceeded.", 503, None,
     "the endpoint http://s3:9000 is throttling requests (RequestLimitExceeded) and the retries ran out; retry later or "
     "slow the sensor down"),
    ("NoSuchKey", "The specified key does not exist.", 404, "landing/2023-01-05/a.csv",
     "the object does not exist (deleted after it was listed?)"),
    ("InternalError", "We encountered an internal error.  Please try again.", 500, None,
     "InternalError: We encountered an internal error. Please try again."),
])
def test_client_errors_by_code(code, message, status, key, reason):
    err = _explain(_client_error(code, message, status), "b", key=key, endpoint="http://s3:9000")
    what = "listing landing bucket 'b'" if key is None else f"downloading landing object {key!r} of bucket 'b'"
    assert str(err) == f"{what} failed: {reason}"


def test_an_error_without_a_response_never_raises_while_being_explained():
    """Whatever the exception, explaining it gives an S3LandingError (the bug: .response of a timeout is None)."""
    for exc in (ReadTimeoutError(endpoint_url="u"), ClientError({}, "GetObject"), RuntimeError("boom")):
        assert isinstance(_explain(exc, "b"), S3LandingError)
