"""daemon.json keys and flags merge as in dockerd."""

import json

import pytest

from dockerd_py import config


def write(tmp_path, values: dict) -> str:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(values))
    return str(path)


def test_file_values_apply_with_dockers_names(tmp_path):
    path = write(tmp_path, {"data-root": "/srv/d", "bip": "10.9.0.1/24", "debug": True,
                            "runtimes": {"other": {"path": "/usr/sbin/runc"}}, "default-runtime": "other"})
    cfg = config.load(["--config-file", path])
    assert (cfg.data_root, cfg.bip) == ("/srv/d", "10.9.0.1/24")
    assert cfg.level_name == "debug"
    assert cfg.runtimes["other"] == "/usr/sbin/runc" and cfg.default_runtime == "other"


def test_flags_fill_what_the_file_leaves(tmp_path):
    path = write(tmp_path, {"bridge": "br9"})
    cfg = config.load(["--config-file", path, "-H", "unix:///a.sock", "-H", "tcp://127.0.0.1:1234",
                       "--add-runtime", "r2=/bin/true", "--log-level", "warn"])
    assert cfg.hosts == ["unix:///a.sock", "tcp://127.0.0.1:1234"]
    assert cfg.runtimes["r2"] == "/bin/true" and cfg.level_name == "warning" and cfg.bridge == "br9"


@pytest.mark.parametrize("args, message", [
    (["--add-runtime", "noequals"], "expected NAME=PATH"),
    (["--default-runtime", "ghost"], "not a configured runtime"),
])
def test_bad_runtime_flags(tmp_path, args, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load(["--config-file", str(tmp_path / "none.json"), *args])


def test_gunicorn_binds_from_hosts(monkeypatch):
    from dockerd_py.server import gunicorn_binds

    monkeypatch.delenv("LISTEN_FDS", raising=False)
    assert gunicorn_binds(["unix:///run/x.sock", "tcp://0.0.0.0:2375", "fd://3"]) == \
        ["unix:/run/x.sock", "0.0.0.0:2375", "fd://3"]
    monkeypatch.setenv("LISTEN_FDS", "1")  # socket activation: gunicorn adopts systemd's sockets itself
    assert gunicorn_binds(["fd://", "unix:///run/x.sock"]) == ["unix:/run/x.sock"]
    with pytest.raises(ValueError):
        gunicorn_binds(["http://nope"])


def test_dns_defaults_from_file_and_flags(tmp_path):
    path = write(tmp_path, {"dns": ["10.0.0.2"], "dns-search": ["corp.test"], "dns-opts": ["ndots:2"]})
    cfg = config.load(["--config-file", path])
    assert (cfg.dns, cfg.dns_search, cfg.dns_opts) == (["10.0.0.2"], ["corp.test"], ["ndots:2"])
    cfg = config.load(["--config-file", str(tmp_path / "none.json"), "--dns", "1.1.1.1", "--dns", "::1"])
    assert cfg.dns == ["1.1.1.1", "::1"]
    with pytest.raises(config.ConfigError, match="nameserver is not an ip address"):
        config.load(["--config-file", str(tmp_path / "none.json"), "--dns", "nameserver"])
    with pytest.raises(config.ConfigError, match="dns-search must be a list of strings"):
        config.load(["--config-file", write(tmp_path, {"dns-search": "corp.test"})])
