"""Distribution pieces whose exact output Docker fixes: endpoints, manifests, progress, metadata keys."""

import hashlib
import json

import pytest

from dockerd_py import config, errors, progress
from dockerd_py.distribution import auth, manifest
from dockerd_py.distribution.metadata import MetadataStore, V2Metadata, metadata_hmac
from dockerd_py.distribution.registries import RegistryConfig


def test_loopback_is_insecure_by_default_and_tried_over_https_then_http():
    reg = RegistryConfig()
    eps = reg.endpoints("127.0.0.1:5000")
    assert [(e.scheme, e.verify_tls) for e in eps] == [("https", False), ("http", False)]
    assert [(e.scheme, e.verify_tls) for e in reg.endpoints("10.1.2.3:5000")] == [("https", True)]


def test_insecure_registries_and_mirrors():
    reg = RegistryConfig(["myreg.example:5000", "10.0.0.0/8"], ["http://mirror.local:5000"])
    assert [e.scheme for e in reg.endpoints("myreg.example:5000")] == ["https", "http"]
    assert [e.scheme for e in reg.endpoints("10.9.9.9")] == ["https", "http"]
    hub = reg.endpoints("docker.io")
    assert [(e.base, e.mirror) for e in hub] == [("http://mirror.local:5000", True),
                                                 ("https://registry-1.docker.io", False)]
    info = reg.info()
    assert info["InsecureRegistryCIDRs"] == ["127.0.0.0/8", "10.0.0.0/8"]
    assert info["Mirrors"] == ["http://mirror.local:5000/"]
    assert info["IndexConfigs"]["myreg.example:5000"]["Secure"] is False


def test_registry_settings_from_flags_and_daemon_json(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"insecure-registries": ["a.example:5000"],
                                "registry-mirrors": ["https://m.example"]}))
    cfg = config.load(["--config-file", str(path)])
    assert cfg.insecure_registries == ["a.example:5000"] and cfg.registry_mirrors == ["https://m.example"]
    cfg = config.load(["--config-file", str(tmp_path / "none.json"), "--insecure-registry", "b:1",
                       "--registry-mirror", "http://m2.example"])
    assert cfg.insecure_registries == ["b:1"] and cfg.registry_mirrors == ["http://m2.example"]
    with pytest.raises(config.ConfigError, match="both as a flag and in the configuration file"):
        config.load(["--config-file", str(path), "--insecure-registry", "c:1"])
    path.write_text(json.dumps({"registry-mirrors": ["ftp://nope"]}))
    with pytest.raises(config.ConfigError, match="invalid mirror"):
        config.load(["--config-file", str(path)])


def test_schema2_manifest_bytes_are_dockers():
    # what Docker 20.10 pushed for busybox (digest fa0c6347...)
    raw = manifest.docker_manifest(
        manifest.Descriptor(manifest.DOCKER_CONFIG,
                            "sha256:843b78b6db1c1a898a4df223e99478baabbb26b571210d2dd80efc508a05fd6e", 897),
        [manifest.Descriptor(manifest.DOCKER_LAYER,
                             "sha256:663bfb02dc05dff28077e520d5caa7898bc2f6c98b6f96e2072cd710515b94ed", 1068974)])
    assert len(raw) == 527
    assert hashlib.sha256(raw).hexdigest() == "fa0c63473d9503e856eefc8f35e280a06034200bf9144552560dec57c095ca64"


def _index(*platforms):
    return manifest.Manifest(manifest.OCI_INDEX, b"", {"manifests": [
        {"mediaType": manifest.OCI_MANIFEST, "digest": "sha256:" + f"{i:064x}", "size": 1, "platform": p}
        for i, p in enumerate(platforms)]})


def test_platform_selection():
    idx = _index({"os": "linux", "architecture": "arm", "variant": "v6"},
                 {"os": "linux", "architecture": "arm64", "variant": "v8"},
                 {"os": "linux", "architecture": "amd64"},
                 {"os": "unknown", "architecture": "unknown"})
    assert manifest.select(idx, manifest.parse_platform("linux/amd64")).digest.endswith("2")
    assert manifest.select(idx, manifest.parse_platform("linux/arm64")).digest.endswith("1")
    assert manifest.select(idx, manifest.parse_platform("linux/arm/v7")).digest.endswith("0")
    with pytest.raises(errors.NotFound, match="no matching manifest for linux/s390x in the manifest list entries"):
        manifest.select(idx, manifest.parse_platform("linux/s390x"))


def test_progress_text_is_dockers():
    # lines Docker 20.10 wrote during a pull
    assert progress.progress("663bfb02dc05", "Downloading", 36445, 1068974)["progress"] == \
        "[=>                                                 ]  36.45kB/1.069MB"
    assert progress.progress("x", "Extracting", 819200, 1068974)["progress"] == \
        "[======================================>            ]  819.2kB/1.069MB"
    assert progress.progress("x", "Pushing", 3001856, 3000000)["progress"] == \
        "[==================================================>]  3.002MB"
    assert list(progress.progress("x", "Extracting", 0, 10)["progressDetail"]) == ["total"]


def test_metadata_hmac_and_layout(tmp_path):
    key = auth.AuthConfig().hmac_key()
    digest = "sha256:663bfb02dc05dff28077e520d5caa7898bc2f6c98b6f96e2072cd710515b94ed"
    # the HMAC Docker 20.10 stored after a push without credentials
    assert metadata_hmac(key, digest, "127.0.0.1:5077/bb") == \
        "2cf09e355c92de6a6645f7e068e4d12ed97b9493cfa4b9d09a5385e098b238a8"
    store = MetadataStore(str(tmp_path))
    diff = "sha256:" + "f" * 64
    store.add(diff, V2Metadata(digest, "127.0.0.1:5077/bb"))
    store.add(diff, V2Metadata(digest, "127.0.0.1:5077/other", "h"))
    store.add(diff, V2Metadata(digest, "127.0.0.1:5077/bb"))
    assert [m.source_repository for m in store.get(diff)] == ["127.0.0.1:5077/other", "127.0.0.1:5077/bb"]
    assert store.diff_id(digest) == diff
    assert (tmp_path / "distribution" / "diffid-by-digest" / "sha256" / digest[7:]).read_text() == diff


def test_registry_auth_header_decoding():
    import base64

    value = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p>?",
                                                 "serveraddress": "h:1"}).encode()).decode()
    got = auth.decode_header(value.rstrip("="))
    assert (got.username, got.password, got.server_address) == ("u", "p>?", "h:1")
    assert "p>?" not in repr(got)
    assert auth.decode_header("!!not base64").empty
    legacy = auth.AuthConfig.from_dict({"auth": base64.b64encode(b"me:pw").decode()})
    assert legacy.credentials() == ("me", "pw") and not legacy.empty
    assert legacy.username == ""          # the HMAC key sees the fields as sent, as Docker's does


def test_challenges():
    got = auth.parse_challenges(['Bearer realm="https://auth.example/token",service="registry.example",'
                                 'scope="repository:a/b:pull,push"', 'Basic realm="r"'])
    assert got[0].scheme == "bearer" and got[0].params["scope"] == "repository:a/b:pull,push"
    assert got[0].params["service"] == "registry.example" and got[1].scheme == "basic"
