import json
import threading
import urllib.error
import urllib.request

import pytest

from inference_api.server import serve


@pytest.fixture
def base_url():
    server = serve(host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req) as resp:
        return resp.status, json.loads(resp.read())


def test_healthz(base_url):
    with urllib.request.urlopen(f"{base_url}/healthz") as resp:
        assert json.loads(resp.read()) == {"status": "ok"}


def test_predict(base_url):
    status, body = post(f"{base_url}/predict", {"features": [1.0, 0.0, 0.0]})
    assert status == 200 and body["label"] == 1


def test_bad_input_is_a_400(base_url):
    with pytest.raises(urllib.error.HTTPError) as e:
        post(f"{base_url}/predict", {"features": [1.0]})
    assert e.value.code == 400
