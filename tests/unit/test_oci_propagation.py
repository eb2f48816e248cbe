"""A bind's shared/slave propagation is checked against the mount of its source, as Docker's start."""

import pytest

from dockerd_py.errors import DockerError, SystemErr
from dockerd_py.oci import propagation

MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /srv/shared rw,relatime shared:7 - tmpfs tmpfs rw
41 27 0:51 / /srv/slave rw,relatime master:7 - tmpfs tmpfs rw
42 41 0:52 / /srv/slave/priv\\040ate rw,relatime - tmpfs tmpfs rw
"""


@pytest.fixture
def mountinfo(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return str(path)


def test_source_mount_is_the_longest_parent(mountinfo):
    assert propagation.source_mount("/srv/shared/a/b", mountinfo) == ("/srv/shared", {"shared"})
    assert propagation.source_mount("/srv/slave/priv ate/x", mountinfo) == ("/srv/slave/priv ate", set())
    assert propagation.source_mount("/srv/sharedness", mountinfo) == ("/", set())


def test_shared_and_slave_binds_need_such_a_source(mountinfo):
    ok = {"Binds": ["/srv/shared/a:/a:rshared", "/srv/slave/b:/b:rslave", "/srv/shared/c:/c:slave",
                    "/opt/d:/d", "/opt/e:/e:ro,rprivate", "named:/f:rshared"],
          "Mounts": [{"Type": "bind", "Source": "/opt/g", "Target": "/g"},
                     {"Type": "tmpfs", "Target": "/h"}]}
    propagation.check(ok, mountinfo)
    cases = [({"Binds": ["/srv/slave/b:/b:shared"]}, "path /srv/slave/b is mounted on /srv/slave but it is not a shared mount"),
             ({"Mounts": [{"Type": "bind", "Source": "/opt/x", "Target": "/x", "BindOptions": {"Propagation": "rslave"}}]},
              "path /opt/x is mounted on / but it is not a shared or slave mount")]
    for hc, text in cases:
        with pytest.raises(DockerError) as e:
            propagation.check(hc, mountinfo)
        assert e.value.message == text and e.value.status == 500
        assert not isinstance(e.value, SystemErr)  # not read as an OCI runtime failure at start
