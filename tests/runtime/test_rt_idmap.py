"""Id-mapped bind mounts (a mount's uidMappings/gidMappings, option idmap).

runc 1.1 (the oracle here) predates them and ignores the fields; these tests
check what the kernel shows through the mount, and runc 1.2's refusals.

The source lies in the temp directory where its filesystem can be id-mapped; else (tmpfs
before Linux 6.3, the tests/vm guest's /tmp) on an ext4 image on a loop device made here."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import HOST_BASE, USERNS_MAPS, run_in


def _why_not_idmappable(path: str) -> str | None:
    """None if the runtime can id-map a bind mount of path here, else the kernel's refusal."""
    from dockerd_runtime.linux import idmap, syscalls

    try:
        idmap.close(idmap.prepare(syscalls.default(), [{"source": path, "type": "bind", "uidMappings": USERNS_MAPS,
                                                        "gidMappings": USERNS_MAPS}], {}))
    except OSError as e:
        return str(e)
    return None


@pytest.fixture(scope="module")
def idmappable():
    """A directory on a filesystem that takes id-mapped mounts: the temp dir's, or a loop-mounted ext4."""
    base = tempfile.mkdtemp(prefix="rt-idmapfs-")
    os.chmod(base, 0o711)  # a user namespace's root traverses it
    try:
        why = _why_not_idmappable(base)
        if why is None:
            yield base
            return
        image, mnt = f"{base}/ext4.img", f"{base}/mnt"
        os.mkdir(mnt)
        subprocess.run(["modprobe", "-a", "loop", "ext4"], capture_output=True)  # built in, or modules
        steps = [["truncate", "-s", "16M", image], ["mkfs.ext4", "-q", "-F", image],
                 ["mount", "-t", "ext4", "-o", "loop", image, mnt]]  # umount frees the loop device
        for argv in steps:
            res = subprocess.run(argv, capture_output=True, text=True)
            if res.returncode != 0:
                pytest.skip(f"the temp dir cannot be id-mapped ({why}) and no ext4 on a loop device could be "
                            f"made ({' '.join(argv[:2])}: {res.stderr.strip()})")
        try:
            why_ext4 = _why_not_idmappable(mnt)
            if why_ext4:
                pytest.skip(f"this kernel cannot id-map a mount of tmpfs ({why}) nor of ext4 ({why_ext4})")
            yield mnt
        finally:
            subprocess.run(["umount", mnt], check=True)
    finally:
        shutil.rmtree(base)


@pytest.fixture
def source(idmappable):
    """A root-owned file in a directory anyone can traverse (as a user namespace's root must)."""
    base = tempfile.mkdtemp(prefix="rt-idmap-", dir=idmappable)
    os.chmod(base, 0o755)
    with open(os.path.join(base, "f"), "w") as f:
        f.write("hello\n")
    yield base
    shutil.rmtree(base)


def _mount(source, **extra):
    return {"destination": "/mnt", "type": "bind", "source": source, "options": ["bind"], **extra}


def test_idmapped_mount_without_user_namespace(ours, bundle, source):
    """A root-owned file appears owned by the mapping's host id; root (unmapped there) cannot create."""
    bundle.spec["mounts"] += [_mount(source, uidMappings=USERNS_MAPS, gidMappings=USERNS_MAPS),
                              {"destination": "/plain", "type": "bind", "source": source, "options": ["bind"]}]
    bundle.spec["root"]["readonly"] = False
    res = run_in(ours, bundle, "stat -c '%u %g' /mnt/f /plain/f; cat /mnt/f; touch /mnt/new || echo refused")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:4] == [f"{HOST_BASE} {HOST_BASE}", "0 0", "hello", "refused"]
    assert os.listdir(source) == ["f"]


def test_idmap_option_with_the_containers_user_namespace(ours, ubundle, source):
    """idmap without maps takes the container's: host root's files are root's inside, and back."""
    ubundle.spec["mounts"] += [_mount(source, options=["bind", "idmap"]),
                               {"destination": "/plain", "type": "bind", "source": source, "options": ["bind"]}]
    res = run_in(ours, ubundle, "stat -c '%u %g' /mnt/f /plain/f; touch /mnt/made; stat -c '%u' /mnt/made")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["0 0", "65534 65534", "0"]
    st = os.stat(os.path.join(source, "made"))
    assert (st.st_uid, st.st_gid) == (0, 0)  # container root wrote host uid 0 through the mapping


@pytest.mark.parametrize("mount,needle", [
    ({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
     "id-mapped mounts are only supported for bind-mounts"),
    ({"destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]},
     "id-mapped mounts must have both uid and gid mappings specified"),
    ({"destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["bind"], "uidMappings": USERNS_MAPS},
     "id-mapped mounts must have both uid and gid mappings specified"),
])
def test_idmapped_refusals(ours, bundle, mount, needle):
    cid = ours.new_id()
    bundle.spec["mounts"].append(mount)
    bundle.write(cid)
    res = ours.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1 and needle in res.stderr
    assert not os.path.exists(os.path.join(ours.root, cid))
