"""The real server over a loopback socket: results equal `omdeploy run`'s, bad uploads get 4xx, overload 503."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from .conftest import Server

AUTH = {"Authorization": "Bearer s3cret"}
PHOTOS = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]


def test_200_concurrent_clients_match_omdeploy_run(squeeze, assets, cli, tmp_path):
    out = tmp_path / "run"
    code = cli("run", assets.model("light_squeezenet.onnx"), *[assets.image(p) for p in PHOTOS], "--task",
               "classify", "-o", out, "--json")
    assert code.code == 0, code.err
    expected = {json.loads(line)["input"].split("/")[-1]: json.loads(line)["result"]
                for line in (out / "results.jsonl").read_text().splitlines()}
    bodies = {p: assets.image(p).read_bytes() for p in PHOTOS}

    def one(i):
        name = PHOTOS[i % len(PHOTOS)]
        ctype = "image/jpeg" if name.endswith(".jpg") else "image/png"
        r = httpx.post(squeeze.url + "/v1/models/squeeze/predict", content=bodies[name],
                       headers=dict(AUTH, **{"Content-Type": ctype}), timeout=120)
        return name, r.status_code, r.json()

    with ThreadPoolExecutor(200) as pool:
        replies = list(pool.map(one, range(200)))
    for name, status, body in replies:
        assert status == 200, body
        got, want = body["result"]["top"], expected[name]["top"]
        assert [t["index"] for t in got] == [t["index"] for t in want]
        np.testing.assert_allclose([t["score"] for t in got], [t["score"] for t in want], rtol=1e-4, atol=1e-6)


def test_malformed_uploads_get_4xx_and_the_server_keeps_serving(squeeze, assets):
    good = assets.image("coffee.png").read_bytes()
    cases = [
        ("predict", good[:len(good) // 3], "image/png"),        # truncated
        ("predict", b"", "image/png"),                           # zero bytes
        ("predict", b"hello, not an image", "image/jpeg"),       # text
        ("predict", good, "text/plain"),                         # wrong content type
        ("predict", b"\0" * (5 * 1024 * 1024), "image/png"),    # huge: over --max-body-mb 4
        ("infer", b"{not json", "application/json"),
        ("infer", json.dumps({"inputs": [{"name": "data_0", "shape": [1, 3, 2, 2], "datatype": "FP32",
                                         "data": [0.0] * 12}]}).encode(), "application/json"),  # wrong shape
        ("infer", json.dumps({"inputs": [{"name": "data_0", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                         "data": [1.0]}]}).encode(), "application/json"),  # data vs shape
        ("infer", json.dumps({"inputs": [{"name": "data_0", "shape": [1, 3, 224, 224], "datatype": "WAT",
                                         "data": []}]}).encode(), "application/json"),
        ("infer", b"[]", "application/json"),
    ]
    statuses = []
    with httpx.Client(timeout=60, headers=AUTH) as client:
        for i in range(1000):
            kind, body, ctype = cases[i % len(cases)]
            url = squeeze.url + ("/v1/models/squeeze/predict" if kind == "predict" else "/v2/models/squeeze/infer")
            r = client.post(url, content=body, headers={"Content-Type": ctype})
            statuses.append(r.status_code)
            assert 400 <= r.status_code < 500, (i, r.status_code, r.text[:300])
            assert "error" in r.json() and "Traceback" not in r.text
        assert 413 in statuses
        r = client.post(squeeze.url + "/v1/models/squeeze/predict", content=good, headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and r.json()["ok"]
        assert client.post(squeeze.url + "/v1/models/nope/predict", content=good,
                           headers={"Content-Type": "image/png"}).status_code == 404


def test_v2_infer_round_trips_a_tensor(squeeze, assets):
    from omdeploy.runtime.session import Session

    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    body = {"id": "r1", "inputs": [{"name": "data_0", "shape": list(x.shape), "datatype": "FP32",
                                    "data": x.reshape(-1).tolist()}]}
    r = httpx.post(squeeze.url + "/v2/models/squeeze/infer", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    with Session(assets.model("light_squeezenet.onnx")) as s:  # a second run, in-process
        want = next(iter(s.run([x]).values()))
    assert out["shape"] == list(want.shape) and out["datatype"] == "FP32" and r.json()["id"] == "r1"
    np.testing.assert_allclose(np.asarray(out["data"], np.float32).reshape(want.shape), want, rtol=1e-5, atol=1e-5)
    meta = httpx.get(squeeze.url + "/v2/models/squeeze", headers=AUTH).json()
    assert meta["inputs"] == [{"name": "data_0", "datatype": "FP32", "shape": [1, 3, 224, 224]}]


def test_api_key_enforced_but_not_on_health(squeeze):
    for path in ("/v2/models/squeeze", "/metrics", "/v1/models", "/v2/models/squeeze/ready"):
        assert httpx.get(squeeze.url + path).status_code == 401
        assert httpx.get(squeeze.url + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(squeeze.url + path, headers=AUTH).status_code == 200
    assert httpx.post(squeeze.url + "/v2/models/squeeze/infer", json={}).status_code == 401
    assert httpx.get(squeeze.url + "/v2/health/live").status_code == 200


def test_metrics_parse_and_count(squeeze, assets):
    from prometheus_client.parser import text_string_to_metric_families

    def predicts():
        text = httpx.get(squeeze.url + "/metrics", headers=AUTH).text
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        return sum(s.value for s in fams["omdeploy_requests"].samples
                   if s.name == "omdeploy_requests_total" and s.labels["endpoint"] == "predict"
                   and s.labels["status"] == "200"), fams

    before, _ = predicts()
    for _ in range(3):
        httpx.post(squeeze.url + "/v1/models/squeeze/predict", content=assets.image("coffee.png").read_bytes(),
                   headers=dict(AUTH, **{"Content-Type": "image/png"}), timeout=60)
    after, fams = predicts()
    assert after - before == 3
    assert {"omdeploy_request_seconds", "omdeploy_queue_wait_seconds", "omdeploy_inference_seconds",
            "omdeploy_batch_size", "omdeploy_queue_depth"} <= set(fams)


def test_queue_2_flood_gets_503_with_retry_after(assets):
    server = Server("m=" + str(assets.model("light_resnet50.onnx")), "--queue", "2", "--max-batch", "1")
    try:
        body = assets.image("coffee.png").read_bytes()

        def one(_):
            r = httpx.post(server.url + "/v1/models/m/predict", content=body, headers={"Content-Type": "image/png"},
                           timeout=120)
            return r.status_code, r.headers.get("retry-after")

        with ThreadPoolExecutor(48) as pool:
            replies = list(pool.map(one, range(96)))
        codes = [c for c, _ in replies]
        assert 503 in codes and 200 in codes
        assert all(c in (200, 503) for c in codes), codes
        assert all(ra == "1" for c, ra in replies if c == 503)
        assert httpx.get(server.url + "/v2/health/live").status_code == 200
    finally:
        assert server.stop() in (0, -15)


def test_multipart_image_field_gives_the_raw_body_result(squeeze, assets):
    body = assets.image("chelsea.png").read_bytes()
    url = squeeze.url + "/v1/models/squeeze/predict"
    raw = httpx.post(url, content=body, headers=dict(AUTH, **{"Content-Type": "image/png"}), timeout=60)
    form = httpx.post(url, files={"image": ("chelsea.png", body, "image/png")}, data={"note": "x"}, headers=AUTH,
                      timeout=60)
    assert raw.status_code == 200 and form.status_code == 200, form.text
    assert form.json()["result"] == raw.json()["result"]


def test_malformed_multipart_gets_4xx_and_the_server_keeps_serving(squeeze, assets):
    good = assets.image("coffee.png").read_bytes()
    url = squeeze.url + "/v1/models/squeeze/predict"
    built = httpx.Request("POST", url, files={"image": ("c.png", good, "image/png")})
    whole, ctype = built.read(), built.headers["content-type"]
    cases = [
        (whole[:len(whole) // 2], ctype),                                  # cut in the middle of the part
        (b"", ctype),                                                      # empty body
        (b"this is not multipart at all", ctype),                          # no boundary in the body
        (whole, "multipart/form-data"),                                    # no boundary parameter
        (whole.replace(b'name="image"', b'name="photo"'), ctype),          # no 'image' field
        (whole.replace(good, good[:100]), ctype),                          # a truncated image in the field
        (whole.replace(good, b""), ctype),                                 # a zero-byte image in the field
    ]
    text_field = httpx.Request("POST", url, data={"image": "not a file"})
    cases.append((text_field.read(), text_field.headers["content-type"]))  # 'image' is a text field
    with httpx.Client(timeout=60, headers=AUTH) as client:
        for body, content_type in cases * 5:
            r = client.post(url, content=body, headers={"Content-Type": content_type})
            assert 400 <= r.status_code < 500, (content_type, body[:80], r.status_code, r.text[:300])
            assert "error" in r.json() and "Traceback" not in r.text
        huge = httpx.Request("POST", url, files={"image": ("h.png", b"\0" * (5 * 1024 * 1024), "image/png")})
        r = client.post(url, content=huge.read(), headers={"Content-Type": huge.headers["content-type"]})
        assert r.status_code == 413
        r = client.post(url, files={"image": ("c.png", good, "image/png")})
        assert r.status_code == 200 and r.json()["ok"]
