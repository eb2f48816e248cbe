"""A container's filesystem as `docker cp` and `docker export` see it, in a child process.

The child (`child.main`, standard library only) enters a private mount
namespace, attaches the container's volumes and binds over its rootfs, and
chroots into it: every path a client names is then resolved by the kernel
inside the container's root, so no symlink (`/`, `../..`, `/etc`) can lead a
read or a write outside. `client.run` spawns it and speaks its small protocol.
"""
